"""Word lists and paraphrase templates used by :mod:`bench.corpus`.

Role: pure data. Every name, organisation and event here is invented for the synthetic
benchmark corpus (place names in Vietnamese are real cities, events are not). Templates are
``str.format_map`` strings; the placeholders are filled by :mod:`bench.corpus`:

``{person}`` full name, ``{short}`` short form (surname in English, given name in Vietnamese),
``{hon}`` Vietnamese honorific (ông/bà), ``{role}``, ``{org}``, ``{place}``, ``{item}``,
``{num}``, ``{num2}``, ``{day}``. A capitalised key (``{Org}``, ``{Day}`` ...) is the same
value with its first letter upper-cased, for use at the start of a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """One kind of news event; ``num``/``num2`` are (low, high, step) ranges."""

    key: str
    category: str
    section: str
    num: tuple[int, int, int]
    num2: tuple[int, int, int]


@dataclass(frozen=True)
class Templates:
    """Per-language wording for one event kind."""

    tag: str
    headlines: tuple[str, ...]
    leads: tuple[str, ...]
    details: tuple[str, ...]
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocab:
    """Everything language-specific the generator needs."""

    lang: str
    places: tuple[str, ...]
    orgs: dict[str, tuple[str, ...]]  # by event key, else by category
    roles: dict[str, tuple[str, ...]]  # by organisation template, else by category
    fillers: tuple[str, ...]
    feed_names: tuple[str, ...]
    read_more: str
    templates: dict[str, Templates]


EVENTS: tuple[Event, ...] = (
    Event("invest", "company", "business", (20, 900, 5), (150, 4000, 50)),
    Event("launch", "company", "tech", (5000, 400000, 500), (8, 30, 1)),
    Event("earnings", "company", "business", (3, 65, 1), (120, 9000, 10)),
    Event("infrastructure", "agency", "local", (300, 9000, 50), (5, 45, 1)),
    Event("flood", "agency", "weather", (150, 12000, 10), (120, 650, 5)),
    Event("festival", "agency", "culture", (5000, 350000, 500), (3, 12, 1)),
    Event("health", "hospital", "health", (80, 3000, 5), (10, 120, 1)),
    Event("scholarship", "university", "education", (40, 1500, 5), (2, 60, 1)),
    # For matches num2 is re-drawn below num (a score), see bench.corpus.
    Event("match", "club", "sport", (1, 5, 1), (0, 4, 1)),
)

# --------------------------------------------------------------------------------------------
# English
# --------------------------------------------------------------------------------------------

EN_FIRST = (
    "Harriet",
    "Desmond",
    "Priya",
    "Tobias",
    "Ingrid",
    "Marcus",
    "Odile",
    "Rafael",
    "Wren",
    "Casimir",
    "Leona",
    "Ezra",
    "Noor",
    "Bertram",
    "Saoirse",
    "Idris",
)
EN_LAST = (
    "Quellman",
    "Arkwright",
    "Vantongeren",
    "Blackwood",
    "Okonkwo-Hale",
    "Strand",
    "Pemberton",
    "Castellanos",
    "Fairweather",
    "Lindqvist",
    "Ashdown",
    "Moreau",
    "Thistlewood",
    "Kaminski",
    "Delacroix-Ruiz",
    "Hargreave",
)

_EN_CLUBS = (
    "Harrowgate Rovers",
    "Port Ellery Mariners",
    "Millbrook Athletic",
    "Dunmore Falls FC",
    "Oakhurst City",
    "Westerly United",
)

_EN_TEMPLATES: dict[str, Templates] = {
    "invest": Templates(
        tag="Business",
        headlines=(
            "{Org} to invest ${num} million in new {place} plant",
            "{Org} commits ${num}m to factory in {place}",
            "{place} wins ${num} million {org} factory",
            "{Org} picks {place} for ${num}m manufacturing hub",
        ),
        leads=(
            "{Org} said {day} it would invest ${num} million in a new plant in {place}, "
            "according to {role} {person}.",
            "{Role} {person} announced {day} that {org} will spend ${num} million on a factory "
            "on the outskirts of {place}.",
            "A ${num} million factory is coming to {place} after {org} confirmed its expansion "
            "plans {day}.",
        ),
        details=(
            "The plant is expected to employ about {num2} people once it reaches full capacity.",
            "{short} said construction would begin early next year and take roughly eighteen "
            "months.",
            "Officials in {place} welcomed the decision, pointing to the town's port and rail "
            "links.",
            "\u201cThis is a long-term bet on {place} and its people,\u201d {short} said.",
            "The company did not say how the project would be financed.",
        ),
    ),
    "launch": Templates(
        tag="Technology",
        headlines=(
            "{Org} unveils {item}, its first consumer device",
            "{Org}'s {item} racks up {num} pre-orders",
            "Hands-on: {org} launches {item} in {place}",
            "{Org} bets on {item} as pre-orders pass {num}",
        ),
        leads=(
            "{Org} introduced the {item} at an event in {place} {day}, saying it had already "
            "taken {num} pre-orders.",
            "The {item}, {org}'s first device aimed at consumers, drew {num} pre-orders within "
            "days of its launch {day}, {role} {person} said.",
            "{Role} {person} took the stage in {place} {day} to launch the {item}, a product "
            "{org} has spent {num2} months developing.",
        ),
        details=(
            "{short} said the device had been in development for {num2} months.",
            "Early reviewers praised the battery life but questioned the price.",
            "\u201cWe wanted to build something people in {place} would be proud of,\u201d "
            "{short} said.",
            "Shipments are due to begin before the end of the year.",
            "The launch puts {org} in direct competition with much larger rivals.",
        ),
        items=("Nimbus", "Kite One", "Lumen Pad", "Atlas Go", "Pebble Pro"),
    ),
    "earnings": Templates(
        tag="Business",
        headlines=(
            "{Org} quarterly profit jumps {num}%",
            "{Org} posts {num} per cent rise in third-quarter profit",
            "Strong quarter for {org} as profit climbs {num}%",
        ),
        leads=(
            "{Org} reported {day} that third-quarter profit rose {num}% from a year earlier, "
            "on revenue of ${num2} million.",
            "Profit at {org} climbed {num} per cent in the third quarter, the {place}-based "
            "company said {day}.",
            "{Role} {person} said {day} that {org} had grown profit by {num}% in the "
            "July-to-September period.",
        ),
        details=(
            "Revenue for the quarter came to ${num2} million.",
            "{short} credited cost cuts and stronger export orders for the improvement.",
            "Shares in the company rose in early trading after the announcement.",
            "\u201cWe are cautious about next year, but the trend is clearly positive,\u201d "
            "{short} told analysts.",
        ),
    ),
    "infrastructure": Templates(
        tag="Local",
        headlines=(
            "{Item} opens to traffic in {place}",
            "After years of delays, {item} finally opens",
            "{place} cuts the ribbon on {item}",
            "{Org} opens {item}, promising shorter commutes",
        ),
        leads=(
            "{Item} opened to traffic in {place} {day}, {org} said, after construction costing "
            "${num} million.",
            "{Role} {person} of {org} cut the ribbon on {item} {day}, ending years of delays.",
            "Drivers in {place} began using {item} {day}, a ${num} million project that "
            "officials say will save up to {num2} minutes per trip.",
        ),
        details=(
            "Officials estimate the route will save commuters up to {num2} minutes at peak times.",
            "The project cost ${num} million, well above the original estimate.",
            "\u201cThis has been a long time coming for {place},\u201d {short} said at the "
            "ceremony.",
            "Local businesses along the route had complained about noise during construction.",
        ),
        items=(
            "the Alder Creek Bridge",
            "the Saltmarsh ring road",
            "Metro Line 3",
            "the Heron Point tunnel",
            "the Old Mill flyover",
        ),
    ),
    "flood": Templates(
        tag="Weather",
        headlines=(
            "Floods force {num} households from their homes in {place}",
            "{place} evacuates {num} households as river rises",
            "Heavy rain swamps {place}; {org} orders evacuations",
            "{num2}mm of rain in two days leaves parts of {place} under water",
        ),
        leads=(
            "{Org} ordered the evacuation of {num} households in {place} {day} after {num2} "
            "millimetres of rain fell in 48 hours.",
            "About {num} households in low-lying parts of {place} were moved to safety {day}, "
            "{role} {person} said.",
            "Rising water forced {num} households out of their homes in {place} {day}, "
            "officials said.",
        ),
        details=(
            "Forecasters said rainfall had reached {num2} millimetres in some districts.",
            "Schools in the worst-hit areas were closed and used as temporary shelters.",
            "\u201cOur priority is to keep people safe until the water goes down,\u201d {short} "
            "said.",
            "No deaths had been reported by late evening.",
        ),
    ),
    "festival": Templates(
        tag="Culture",
        headlines=(
            "{Item} draws {num} visitors to {place}",
            "Record crowds as {item} returns to {place}",
            "{place} kicks off {item}",
        ),
        leads=(
            "{Item} opened in {place} {day} and organisers expect {num} visitors over {num2} days.",
            "More than {num} people attended {item} in {place}, {org} said {day}.",
            "{Role} {person} opened {item} {day}, calling it the biggest edition yet.",
        ),
        details=(
            "The festival runs for {num2} days and includes music, food stalls and a night market.",
            "Hotels in {place} reported occupancy close to full for the weekend.",
            "\u201cIt brings the whole town together,\u201d {short} said.",
            "Organisers added extra buses to cope with the crowds.",
        ),
        items=(
            "the Lantern Festival",
            "the Harvest Fair",
            "the Riverside Jazz Week",
            "the Kite Festival",
            "the Winter Light Parade",
        ),
    ),
    "health": Templates(
        tag="Health",
        headlines=(
            "{Org} performs {num} free operations for low-income patients",
            "{num} patients receive free surgery at {org}",
            "Free surgery programme at {org} reaches {num} patients",
        ),
        leads=(
            "{Org} in {place} said {day} it had carried out {num} free operations for patients "
            "who could not afford treatment.",
            "Doctors at {org} have operated on {num} low-income patients free of charge, {role} "
            "{person} said {day}.",
            "A charity programme at {org} has reached {num} patients, with {num2} doctors "
            "volunteering their time, the hospital said {day}.",
        ),
        details=(
            "{num2} doctors and nurses volunteered for the programme.",
            "Most of the patients came from rural districts around {place}.",
            "\u201cNobody should have to choose between surgery and food,\u201d {short} said.",
            "The hospital plans to repeat the programme next spring.",
        ),
    ),
    "scholarship": Templates(
        tag="Education",
        headlines=(
            "{Org} awards {num} scholarships to first-year students",
            "{num} students win full scholarships at {org}",
            "{Org} hands out ${num2}m in scholarships",
        ),
        leads=(
            "{Org} in {place} awarded {num} scholarships to incoming students {day}, worth a "
            "combined ${num2} million.",
            "{Role} {person} presented {num} scholarships at a ceremony in {place} {day}.",
            "A total of {num} first-year students at {org} will study for free this year, the "
            "university said {day}.",
        ),
        details=(
            "The scholarships are worth a combined ${num2} million.",
            "Priority was given to students from families on low incomes.",
            "\u201cTalent is everywhere; opportunity is not,\u201d {short} told the students.",
            "Applications for next year's round open in March.",
        ),
    ),
    "match": Templates(
        tag="Sport",
        headlines=(
            "{Org} beat {item} {num}-{num2} in {place}",
            "{Org} cruise past {item}",
            "{short}'s {org} edge {item} {num}-{num2}",
            "{Item} fall {num2}-{num} to {org}",
        ),
        leads=(
            "{Org} beat {item} {num}-{num2} in {place} {day}, lifting them to the top of the "
            "table.",
            "{Role} {person} watched {org} beat {item} {num}-{num2} in {place} {day}.",
            "{Item} lost {num2}-{num} to {org} {day} in front of a sell-out crowd in {place}.",
        ),
        details=(
            "{short} praised the team's discipline after the match.",
            "The home crowd in {place} stayed long after the final whistle.",
            "\u201cWe deserved the win, but there is a lot to improve,\u201d {short} said.",
            "The two sides meet again in the cup next month.",
        ),
        items=_EN_CLUBS,
    ),
}

EN = Vocab(
    lang="en",
    places=(
        "Harrowgate",
        "Port Ellery",
        "Kestrel Bay",
        "Millbrook",
        "Ashford Vale",
        "Northwick",
        "Greyhaven",
        "Dunmore Falls",
        "Westerly",
        "Calder Springs",
        "Fenwick",
        "Oakhurst",
    ),
    orgs={
        "company": (
            "Halvorsen Dynamics",
            "Bluefin Logistics",
            "Corvid Systems",
            "Marlow & Pike Foods",
            "Tessellate Energy",
            "Northgate Textiles",
            "Quarry Lane Robotics",
            "Solent Pharma",
        ),
        "infrastructure": ("the {place} City Council", "the {place} Transport Authority"),
        "flood": ("the {place} City Council", "the {place} Civil Protection Office"),
        "festival": ("the {place} City Council", "the {place} Parks and Culture Department"),
        "hospital": (
            "St. Aldric General Hospital",
            "Riverside Children's Hospital",
            "Kestrel Bay Medical Centre",
            "Northwick University Hospital",
        ),
        "university": (
            "Calder Institute of Technology",
            "Greyhaven University",
            "Ashford Vale College",
            "the Polytechnic of Port Ellery",
        ),
        "club": _EN_CLUBS,
    },
    roles={
        "company": ("chief executive", "managing director", "chair"),
        "the {place} City Council": ("deputy mayor", "council leader"),
        "the {place} Transport Authority": ("commissioner", "director"),
        "the {place} Civil Protection Office": ("director", "deputy director"),
        "the {place} Parks and Culture Department": ("director", "head of events"),
        "hospital": ("medical director", "chief surgeon"),
        "university": ("rector", "vice-chancellor"),
        "club": ("head coach", "club president"),
    },
    fillers=(
        "The announcement comes during a busy autumn for {place}, where several large projects "
        "have been approved this year.",
        "Residents interviewed by this newspaper gave a mixed reaction.",
        "Further details are expected in the coming weeks.",
        "The figures could not be independently verified.",
        "Observers noted that similar plans elsewhere had run into difficulties.",
        "{Org} declined to comment further.",
    ),
    feed_names=(
        "The Harrowgate Courier",
        "Northern Wire",
        "Daily Ledger",
        "Kestrel Bay Gazette",
        "The Evening Lantern",
        "Westerly Chronicle",
        "Business Dispatch",
        "The Morning Tribune",
        "Civic Record",
        "Port Ellery Post",
    ),
    read_more="Read more",
    templates=_EN_TEMPLATES,
)

EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# --------------------------------------------------------------------------------------------
# Vietnamese (all literals are NFC; bench.corpus normalises again to be safe)
# --------------------------------------------------------------------------------------------

VI_FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
)
VI_MIDDLE_MALE = ("Văn", "Minh", "Quốc", "Đức", "Hữu", "Thành")
VI_MIDDLE_FEMALE = ("Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ")
VI_GIVEN_MALE = (
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hùng",
    "Khánh",
    "Long",
    "Nam",
    "Phúc",
    "Quang",
    "Sơn",
    "Thắng",
    "Tuấn",
    "Việt",
)
VI_GIVEN_FEMALE = (
    "Hà",
    "Hạnh",
    "Lan",
    "Linh",
    "Mai",
    "Nga",
    "Thảo",
    "Trang",
    "Uyên",
    "Vy",
    "Yến",
    "Hương",
)

_VI_CLUBS = (
    "CLB Hải Âu Phương Nam",
    "CLB Rồng Vàng Đà Thành",
    "CLB Sao Mai",
    "CLB Thép Xanh Núi Thành",
    "CLB Bình Minh Sài Gòn",
    "CLB Sóng Biển Quy Nhơn",
)

_VI_TEMPLATES: dict[str, Templates] = {
    "invest": Templates(
        tag="Kinh doanh",
        headlines=(
            "{Org} rót {num} triệu USD xây nhà máy tại {place}",
            "{Org} đầu tư {num} triệu USD vào {place}",
            "{Place} đón dự án nhà máy {num} triệu USD của {org}",
            "Nhà máy {num} triệu USD của {org} sắp khởi công ở {place}",
        ),
        leads=(
            "{Day}, {org} công bố kế hoạch đầu tư {num} triệu USD xây dựng nhà máy mới tại "
            "{place}.",
            "Theo {hon} {person}, {role} {org}, doanh nghiệp sẽ rót {num} triệu USD vào dự án "
            "nhà máy ở {place}; thông tin được đưa ra {day}.",
            "Một nhà máy trị giá {num} triệu USD của {org} sẽ được xây dựng tại {place}, đại "
            "diện doanh nghiệp xác nhận {day}.",
        ),
        details=(
            "Dự kiến nhà máy sẽ tạo việc làm cho khoảng {num2} lao động khi đi vào hoạt động "
            "hết công suất.",
            "{Hon} {short} cho biết công trình sẽ khởi công vào đầu năm tới và kéo dài khoảng "
            "18 tháng.",
            "Lãnh đạo địa phương đánh giá cao quyết định này, nhấn mạnh lợi thế về cảng biển "
            "và đường sắt của {place}.",
            "\u201cĐây là khoản đầu tư dài hạn, thể hiện niềm tin của chúng tôi vào {place},"
            "\u201d {hon} {short} nói.",
            "Doanh nghiệp chưa công bố phương án huy động vốn cho dự án.",
        ),
    ),
    "launch": Templates(
        tag="Công nghệ",
        headlines=(
            "{Org} ra mắt {item}, thiết bị tiêu dùng đầu tiên",
            "{Item} của {org} đạt {num} đơn đặt trước",
            "{Org} trình làng {item} tại {place}",
            "Hơn {num} đơn đặt hàng cho {item} chỉ sau vài ngày",
        ),
        leads=(
            "{Day}, {org} chính thức giới thiệu {item} tại một sự kiện ở {place} và cho biết "
            "đã nhận {num} đơn đặt hàng trước.",
            "Sản phẩm {item} của {org} đã nhận được {num} đơn đặt trước chỉ sau vài ngày, "
            "{hon} {person}, {role}, cho biết {day}.",
            "{Org} vừa ra mắt {item} tại {place} {day}, sau {num2} tháng nghiên cứu và phát triển.",
        ),
        details=(
            "{Hon} {short} cho biết công ty đã mất {num2} tháng để hoàn thiện sản phẩm.",
            "Các chuyên gia nhận định thị trường thiết bị thông minh trong nước đang cạnh "
            "tranh gay gắt.",
            "\u201cChúng tôi muốn mang đến một sản phẩm do người Việt thiết kế và sản xuất,"
            "\u201d {hon} {short} chia sẻ.",
            "Sản phẩm dự kiến được giao đến tay khách hàng trước cuối năm nay.",
        ),
        items=("Sao Khuê", "Mây Trắng S2", "Hoa Sen Pro", "Lạc Việt Go", "Cánh Diều X"),
    ),
    "earnings": Templates(
        tag="Kinh doanh",
        headlines=(
            "Lợi nhuận quý III của {org} tăng {num}%",
            "{Org} báo lãi quý III tăng mạnh {num}%",
            "Kinh doanh khởi sắc, {org} lãi tăng {num}% trong quý III",
        ),
        leads=(
            "{Org} cho biết {day} lợi nhuận sau thuế quý III tăng {num}% so với cùng kỳ năm "
            "trước, doanh thu đạt {num2} tỷ đồng.",
            "Theo báo cáo tài chính công bố {day}, lợi nhuận quý III của {org} tăng {num}% so "
            "với cùng kỳ.",
            "{Hon} {person}, {role} {org}, cho biết {day} lợi nhuận của doanh nghiệp trong quý "
            "III đã tăng {num}%.",
        ),
        details=(
            "Doanh thu trong quý đạt {num2} tỷ đồng.",
            "{Hon} {short} cho rằng kết quả này nhờ cắt giảm chi phí và đơn hàng xuất khẩu "
            "tăng trở lại.",
            "Cổ phiếu của công ty tăng điểm ngay trong phiên giao dịch sáng.",
            "\u201cChúng tôi vẫn thận trọng với năm tới, nhưng xu hướng đang rất tích cực,"
            "\u201d {hon} {short} nói.",
        ),
    ),
    "infrastructure": Templates(
        tag="Thời sự",
        headlines=(
            "Thông xe {item} tại {place}",
            "{Place} chính thức khánh thành {item}",
            "{Item} vốn {num} tỷ đồng đi vào hoạt động",
            "Sau nhiều năm chậm tiến độ, {item} đã thông xe",
        ),
        leads=(
            "{Day}, {org} tổ chức lễ thông xe {item}, công trình có tổng vốn đầu tư {num} tỷ đồng.",
            "{Hon} {person}, {role} {org}, đã cắt băng khánh thành {item} {day}, khép lại "
            "nhiều năm thi công.",
            "Người dân {place} bắt đầu được đi trên {item} từ {day}, giúp rút ngắn tới {num2} "
            "phút di chuyển.",
        ),
        details=(
            "Theo tính toán, công trình giúp người dân tiết kiệm tới {num2} phút mỗi chuyến đi "
            "vào giờ cao điểm.",
            "Tổng vốn đầu tư của dự án là {num} tỷ đồng, cao hơn nhiều so với dự toán ban đầu.",
            "\u201cĐây là công trình mà người dân {place} mong đợi từ rất lâu,\u201d {hon} "
            "{short} phát biểu tại buổi lễ.",
            "Nhiều hộ kinh doanh dọc tuyến đường từng phản ánh về tiếng ồn trong quá trình "
            "thi công.",
        ),
        items=(
            "cầu Sông Trà 2",
            "đường vành đai Bắc Sơn",
            "tuyến metro số 3",
            "hầm chui Ngã Ba Đình Cát",
            "cầu vượt Hòa Khánh Tây",
        ),
    ),
    "flood": Templates(
        tag="Thời tiết",
        headlines=(
            "{Place}: sơ tán {num} hộ dân do ngập lụt",
            "Mưa lớn gây ngập sâu, {place} di dời {num} hộ dân",
            "Nước sông dâng cao, {place} khẩn cấp sơ tán người dân",
            "Lượng mưa lên tới {num2} mm, nhiều khu vực ở {place} chìm trong biển nước",
        ),
        leads=(
            "{Day}, {org} đã ra lệnh sơ tán {num} hộ dân sau khi lượng mưa trong 48 giờ lên "
            "tới {num2} mm.",
            "Khoảng {num} hộ dân ở các vùng trũng thấp của {place} đã được di dời đến nơi an "
            "toàn {day}, {hon} {person}, {role} {org}, cho biết.",
            "Nước sông dâng cao buộc {num} hộ dân ở {place} phải rời khỏi nhà {day}, theo "
            "thông tin từ chính quyền địa phương.",
        ),
        details=(
            "Theo cơ quan khí tượng, lượng mưa tại một số khu vực đã vượt {num2} mm.",
            "Nhiều trường học ở vùng bị ảnh hưởng nặng đã cho học sinh nghỉ và được dùng làm "
            "nơi tránh trú tạm thời.",
            "\u201cƯu tiên hàng đầu là bảo đảm an toàn cho người dân cho đến khi nước rút,"
            "\u201d {hon} {short} nói.",
            "Đến tối cùng ngày, chưa ghi nhận thiệt hại về người.",
        ),
    ),
    "festival": Templates(
        tag="Văn hóa",
        headlines=(
            "{Item} thu hút {num} lượt khách đến {place}",
            "{Place} khai mạc {item} kéo dài {num2} ngày",
            "Đông nghịt du khách dự {item} tại {place}",
        ),
        leads=(
            "{Item} đã khai mạc tại {place} {day}, ban tổ chức dự kiến đón khoảng {num} lượt "
            "khách trong {num2} ngày.",
            "Hơn {num} lượt người đã tham dự {item} ở {place}, {org} cho biết {day}.",
            "{Hon} {person}, {role} {org}, phát biểu khai mạc {item} {day} và gọi đây là mùa "
            "lễ hội lớn nhất từ trước đến nay.",
        ),
        details=(
            "Lễ hội kéo dài {num2} ngày với nhiều hoạt động âm nhạc, ẩm thực và chợ đêm.",
            "Các khách sạn tại {place} cho biết công suất phòng gần như kín trong dịp cuối tuần.",
            "\u201cLễ hội là dịp để cả thành phố cùng chung vui,\u201d {hon} {short} nói.",
            "Ban tổ chức đã bố trí thêm xe buýt để phục vụ lượng khách tăng cao.",
        ),
        items=(
            "Lễ hội Đèn lồng",
            "Hội chợ Mùa gặt",
            "Tuần lễ Nhạc Jazz bên sông",
            "Lễ hội Diều",
            "Lễ hội Ánh sáng mùa đông",
        ),
    ),
    "health": Templates(
        tag="Sức khỏe",
        headlines=(
            "{Org} phẫu thuật miễn phí cho {num} bệnh nhân nghèo",
            "Hơn {num} người bệnh được mổ miễn phí tại {org}",
            "Chương trình mổ miễn phí của {org} đến với {num} bệnh nhân",
        ),
        leads=(
            "{Org} tại {place} cho biết {day} đã thực hiện {num} ca phẫu thuật miễn phí cho "
            "người bệnh có hoàn cảnh khó khăn.",
            "Các bác sĩ của {org} đã phẫu thuật miễn phí cho {num} bệnh nhân nghèo, {hon} "
            "{person}, {role}, cho biết {day}.",
            "Chương trình thiện nguyện của {org} đã đến với {num} bệnh nhân, với sự tham gia "
            "của {num2} y bác sĩ, bệnh viện thông tin {day}.",
        ),
        details=(
            "Có {num2} y bác sĩ tình nguyện tham gia chương trình.",
            "Phần lớn bệnh nhân đến từ các huyện vùng sâu, vùng xa quanh {place}.",
            "\u201cKhông ai phải lựa chọn giữa chữa bệnh và miếng ăn,\u201d {hon} {short} chia sẻ.",
            "Bệnh viện dự kiến tiếp tục tổ chức chương trình vào mùa xuân năm sau.",
        ),
    ),
    "scholarship": Templates(
        tag="Giáo dục",
        headlines=(
            "{Org} trao {num} suất học bổng cho tân sinh viên",
            "{num} tân sinh viên nhận học bổng toàn phần của {org}",
            "{Org} dành {num2} tỷ đồng cấp học bổng",
        ),
        leads=(
            "{Org} tại {place} đã trao {num} suất học bổng cho tân sinh viên {day}, tổng trị "
            "giá {num2} tỷ đồng.",
            "{Hon} {person}, {role} {org}, đã trao {num} suất học bổng tại buổi lễ ở {place} "
            "{day}.",
            "Tổng cộng {num} tân sinh viên của {org} sẽ được miễn học phí trong năm nay, nhà "
            "trường thông báo {day}.",
        ),
        details=(
            "Tổng trị giá các suất học bổng là {num2} tỷ đồng.",
            "Nhà trường ưu tiên sinh viên có hoàn cảnh gia đình khó khăn.",
            "\u201cTài năng ở khắp nơi, nhưng cơ hội thì không,\u201d {hon} {short} nói với "
            "các tân sinh viên.",
            "Đợt xét học bổng năm sau sẽ bắt đầu nhận hồ sơ từ tháng Ba.",
        ),
    ),
    "match": Templates(
        tag="Thể thao",
        headlines=(
            "{Org} thắng {item} {num}-{num2} tại {place}",
            "{Org} đánh bại {item}, vươn lên dẫn đầu bảng",
            "{Item} thua {num2}-{num} trước {org}",
        ),
        leads=(
            "{Org} đã đánh bại {item} với tỷ số {num}-{num2} tại {place} {day}, qua đó vươn "
            "lên dẫn đầu bảng xếp hạng.",
            "{Hon} {person}, {role} {org}, đã chứng kiến đội nhà giành chiến thắng "
            "{num}-{num2} trước {item} {day}.",
            "{Item} đã để thua {num2}-{num} trước {org} {day} trước sự chứng kiến của đông "
            "đảo khán giả tại {place}.",
        ),
        details=(
            "{Hon} {short} khen ngợi tinh thần kỷ luật của các cầu thủ sau trận đấu.",
            "Khán giả tại {place} nán lại sân rất lâu sau tiếng còi kết thúc.",
            "\u201cChúng tôi xứng đáng giành chiến thắng, nhưng vẫn còn nhiều điều phải cải "
            "thiện,\u201d {hon} {short} nói.",
            "Hai đội sẽ gặp lại nhau ở vòng đấu cúp vào tháng tới.",
        ),
        items=_VI_CLUBS,
    ),
}

VI = Vocab(
    lang="vi",
    places=(
        "Hà Nội",
        "TP.HCM",
        "Đà Nẵng",
        "Huế",
        "Cần Thơ",
        "Hải Phòng",
        "Nha Trang",
        "Quy Nhơn",
        "Đà Lạt",
        "Vũng Tàu",
        "Hạ Long",
        "Buôn Ma Thuột",
        "Vinh",
        "Thái Nguyên",
    ),
    orgs={
        "company": (
            "Tập đoàn Minh Phát",
            "Công ty Cổ phần Thép Sông Hàn",
            "Công ty Dệt may Phương Nam",
            "Tập đoàn Năng lượng Bình Minh",
            "Công ty Công nghệ Sao Việt",
            "Công ty Thực phẩm Hòa Bình Xanh",
            "Tổng công ty Vận tải Trường Sơn",
            "Công ty Dược phẩm Liên Hoa",
        ),
        "infrastructure": ("UBND {place}", "Sở Giao thông Vận tải {place}"),
        "flood": ("UBND {place}", "Ban Chỉ huy Phòng chống thiên tai {place}"),
        "festival": ("UBND {place}", "Sở Văn hóa và Thể thao {place}"),
        "hospital": (
            "Bệnh viện Đa khoa Hòa An",
            "Bệnh viện Nhi Đồng Tâm",
            "Bệnh viện Trung ương Phú Thịnh",
            "Bệnh viện Mắt Ánh Dương",
        ),
        "university": (
            "Trường Đại học Bách khoa Phương Đông",
            "Trường Đại học Kinh tế Sông Lam",
            "Học viện Công nghệ Bình Minh",
            "Trường Đại học Sư phạm Trà Giang",
        ),
        "club": _VI_CLUBS,
    },
    roles={
        "company": ("Chủ tịch Hội đồng quản trị", "Tổng giám đốc"),
        "UBND {place}": ("Chủ tịch", "Phó Chủ tịch"),
        "Sở Giao thông Vận tải {place}": ("Giám đốc", "Phó Giám đốc"),
        "Ban Chỉ huy Phòng chống thiên tai {place}": ("Trưởng ban", "Phó Trưởng ban"),
        "Sở Văn hóa và Thể thao {place}": ("Giám đốc", "Phó Giám đốc"),
        "hospital": ("Giám đốc", "Trưởng khoa Ngoại"),
        "university": ("Hiệu trưởng", "Phó Hiệu trưởng"),
        "club": ("Huấn luyện viên trưởng", "Chủ tịch"),
    },
    fillers=(
        "Thông tin này được đưa ra trong bối cảnh {place} đang đẩy mạnh thu hút đầu tư và phát "
        "triển hạ tầng.",
        "Nhiều người dân địa phương bày tỏ sự phấn khởi khi biết tin.",
        "Thông tin chi tiết sẽ được công bố trong thời gian tới.",
        "Các số liệu trên chưa được kiểm chứng độc lập.",
        "Trước đó, nhiều địa phương khác cũng đã triển khai những kế hoạch tương tự.",
        "Đại diện {org} từ chối bình luận thêm.",
    ),
    feed_names=(
        "Tin Nhanh",
        "Báo Sáng",
        "Thời Báo Phương Nam",
        "Nhịp Sống Mới",
        "Tin Tức 24 Giờ",
        "Góc Nhìn",
        "Báo Điện Tử Sông Hồng",
        "Đời Sống & Xã Hội",
        "Thông Tấn Miền Trung",
        "Người Đưa Tin",
    ),
    read_more="Xem thêm",
    templates=_VI_TEMPLATES,
)

VI_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")

RFC822_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
RFC822_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
