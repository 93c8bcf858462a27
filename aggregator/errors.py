"""One exception tree; every error renders as a one-line message a user can act on.

::

    AggregatorError                 str(error) is the user-facing sentence
      ConfigError                   a bad config file, key or value (names the key and line)
      SourceError                   a feed or file could not be fetched or read
        BlockedAddressError         the SSRF guard refused the destination
        TooLargeError               a body exceeded the configured size limit
        FeedGoneError               the server answered 410 Gone: polling stops
        RetryLaterError             429 or 503, with the server's Retry-After when given
      ParseError                    a document could not be understood in any format
      StoreError                    the database could not be opened or migrated
      NotFoundError                 a feed, digest or subscriber named by the user does not exist
      DeliveryError                 a message could not be delivered (SMTP reply or Maildir path)
      DaemonRunningError            another daemon already schedules on this database
      TokenError                    a signed link (unsubscribe, confirm, form) is forged or expired
      InvalidEmailError             an address given on the CLI or the web form is not one

Expected outcomes are values, not exceptions: not-modified, zero new entries, a
recoverable parse warning. Per-feed failures are recorded on the feed, never raised
to the top of the daemon.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base class; ``str()`` is a complete sentence for the user."""


class ConfigError(AggregatorError, ValueError):
    """The configuration file or an environment override is invalid."""


class SourceError(AggregatorError):
    """A feed could not be fetched or read."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"{url}: {problem}")
        self.url = url
        self.problem = problem


class BlockedAddressError(SourceError):
    """The destination resolves to an address the SSRF guard refuses."""


class TooLargeError(SourceError):
    """The body is larger than the configured limit."""


class FeedGoneError(SourceError):
    """410 Gone: the publisher says the feed will not come back."""


class RetryLaterError(SourceError):
    """429 Too Many Requests or 503 Service Unavailable.

    ``retry_after`` is the server's Retry-After in seconds, or None when it gave none.
    """

    def __init__(self, url: str, problem: str, *, retry_after: float | None) -> None:
        super().__init__(url, problem)
        self.retry_after = retry_after


class ParseError(AggregatorError, ValueError):
    """The document is not a feed, page or text article we can read."""


class StoreError(AggregatorError):
    """The database could not be opened, migrated or written."""


class NotFoundError(AggregatorError, LookupError):
    """Something the user named does not exist."""


class DeliveryError(AggregatorError):
    """A message could not be delivered.

    ``permanent`` is true when retrying cannot help (an SMTP 5xx reply);
    ``unreachable`` when the server could not be reached or refused the session, so
    every other message would fail the same way.
    """

    def __init__(
        self, recipient: str, problem: str, *, permanent: bool = False, unreachable: bool = False
    ) -> None:
        super().__init__(f"delivery to {recipient} failed: {problem}")
        self.recipient = recipient
        self.permanent = permanent
        self.unreachable = unreachable


class TokenError(AggregatorError, ValueError):
    """A signed token is malformed, forged, for another purpose, or expired."""


class InvalidEmailError(AggregatorError, ValueError):
    """An email address given by a user is not a valid address."""


class DaemonRunningError(AggregatorError):
    """A second ``aggregator run`` on a database whose daemon is running (or none to reload)."""
