"""The demo company's content, one per language: who works there, whom it sells to and
buys from, and what it sells (:mod:`tenants.demo` loads it).

Content, not interface text: the Chinese company is not a translation of the English
one (its own names, cities, phone numbers and VAT rates), so it is data here rather
than msgids. Addresses are at ``.example`` domains and US numbers in the fictional
555-01xx range, so none belongs to anybody.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Person:
    login: str  # the address's local part
    name: str
    department: int  # index into Company.departments
    position: str
    manager: str | None = None  # the manager's login


@dataclass(frozen=True, slots=True)
class PartyData:
    kind: str  # company | person
    name: str
    roles: str = ""  # "c" customer, "s" supplier, "cs" both
    email: str = ""
    phone: str = ""
    city: str = ""
    line1: str = ""
    works_for: str | None = None  # a person's company, by name
    owner: str = ""  # the owning demo member's login


@dataclass(frozen=True, slots=True)
class ProductData:
    sku: str
    name: str
    unit: str  # a unit code (core.products.services.DEFAULT_UNITS)
    kind: str
    price: str
    cost: str
    tax: str  # the rate as a fraction


@dataclass(frozen=True, slots=True)
class Company:
    country: str
    departments: tuple[tuple[str, int | None], ...]  # (name, parent index)
    people: tuple[Person, ...]
    parties: tuple[PartyData, ...]
    products: tuple[ProductData, ...]
    tax_names: dict[str, str] = field(default_factory=dict)  # rate -> name, if one is made


ZH = Company(
    country="CN",
    departments=(("总经办", None), ("销售部", 0), ("采购部", 0), ("财务部", 0)),
    people=(
        Person("zhang.wei", "张伟", 0, "总经理"),
        Person("li.na", "李娜", 1, "销售经理", "zhang.wei"),
        Person("wang.qiang", "王强", 1, "销售代表", "li.na"),
        Person("liu.yang", "刘洋", 2, "采购专员", "zhang.wei"),
        Person("chen.jing", "陈静", 3, "会计", "zhang.wei"),
    ),
    parties=(
        PartyData(
            "company",
            "上海华东科技有限公司",
            "c",
            "info@huadong.example",
            "+86 21 6123 4501",
            "上海市",
            "浦东新区张江路 88 号",
            owner="li.na",
        ),
        PartyData(
            "company",
            "杭州云帆网络科技有限公司",
            "c",
            "contact@yunfan.example",
            "+86 571 8765 4302",
            "杭州市",
            "西湖区文三路 120 号",
            owner="li.na",
        ),
        PartyData(
            "company",
            "北京博远咨询有限公司",
            "c",
            "office@boyuan.example",
            "+86 10 6543 2103",
            "北京市",
            "朝阳区建国路 66 号",
            owner="wang.qiang",
        ),
        PartyData(
            "company",
            "深圳市前海贸易有限公司",
            "c",
            "trade@qianhai.example",
            "+86 755 2345 6704",
            "深圳市",
            "南山区前海大道 9 号",
            owner="wang.qiang",
        ),
        PartyData(
            "company",
            "南京金陵酒店管理有限公司",
            "c",
            "admin@jinling-hotel.example",
            "+86 25 8432 1005",
            "南京市",
            "鼓楼区中山路 200 号",
            owner="li.na",
        ),
        PartyData(
            "company",
            "苏州工业园区启明学校",
            "c",
            "office@qiming.example",
            "+86 512 6789 0106",
            "苏州市",
            "工业园区星湖街 35 号",
            owner="wang.qiang",
        ),
        PartyData(
            "company",
            "广州恒通办公用品有限公司",
            "s",
            "sales@hengtong.example",
            "+86 20 3888 1207",
            "广州市",
            "天河区体育西路 18 号",
            owner="liu.yang",
        ),
        PartyData(
            "company",
            "东莞市美家家具制造有限公司",
            "s",
            "order@meijia.example",
            "+86 769 2233 4408",
            "东莞市",
            "厚街镇家具大道 2 号",
            owner="liu.yang",
        ),
        PartyData(
            "company",
            "宁波佳印耗材有限公司",
            "s",
            "service@jiayin.example",
            "+86 574 8711 2209",
            "宁波市",
            "鄞州区天童南路 501 号",
            owner="liu.yang",
        ),
        PartyData(
            "company",
            "云南普洱山咖啡有限公司",
            "s",
            "coffee@puershan.example",
            "+86 871 6512 3410",
            "昆明市",
            "五华区人民中路 15 号",
            owner="liu.yang",
        ),
        PartyData(
            "company",
            "武汉楚天信息技术有限公司",
            "cs",
            "hello@chutian.example",
            "+86 27 8765 0011",
            "武汉市",
            "洪山区光谷大道 77 号",
            owner="li.na",
        ),
        PartyData(
            "person",
            "赵敏",
            "",
            "zhao.min@huadong.example",
            "+86 138 0013 8001",
            works_for="上海华东科技有限公司",
            owner="li.na",
        ),
        PartyData(
            "person",
            "孙浩",
            "",
            "sun.hao@yunfan.example",
            "+86 139 0571 2202",
            works_for="杭州云帆网络科技有限公司",
            owner="li.na",
        ),
        PartyData(
            "person",
            "周婷",
            "",
            "zhou.ting@hengtong.example",
            "+86 136 2020 3303",
            works_for="广州恒通办公用品有限公司",
            owner="liu.yang",
        ),
        PartyData(
            "person",
            "吴磊",
            "c",
            "wu.lei@mail.example",
            "+86 137 2525 4404",
            "成都市",
            "锦江区春熙路 12 号",
            owner="wang.qiang",
        ),
    ),
    products=(
        ProductData(
            "DEMO-001", "A4 复印纸（500 张/包）", "pcs", "consumable", "25.00", "18.00", "0.13"
        ),
        ProductData("DEMO-002", "激光打印机", "pcs", "stockable", "1899.00", "1450.00", "0.13"),
        ProductData("DEMO-003", "打印机硒鼓", "pcs", "stockable", "399.00", "260.00", "0.13"),
        ProductData("DEMO-004", "人体工学办公椅", "pcs", "stockable", "699.00", "420.00", "0.13"),
        ProductData(
            "DEMO-005", "会议桌（1.8 米）", "pcs", "stockable", "2499.00", "1600.00", "0.13"
        ),
        ProductData("DEMO-006", "中性签字笔", "dozen", "consumable", "18.00", "10.00", "0.13"),
        ProductData("DEMO-007", "六类网线", "m", "stockable", "3.50", "1.80", "0.13"),
        ProductData("DEMO-008", "地面清洁剂", "L", "consumable", "15.00", "8.00", "0.13"),
        ProductData("DEMO-009", "云南咖啡豆", "kg", "stockable", "180.00", "110.00", "0.13"),
        ProductData("DEMO-010", "设备安装服务", "h", "service", "200.00", "0.00", "0.06"),
        ProductData("DEMO-011", "IT 运维服务", "day", "service", "1200.00", "0.00", "0.06"),
        ProductData("DEMO-012", "打印机维修", "h", "service", "150.00", "0.00", "0.06"),
    ),
    tax_names={"0.13": "增值税 13%", "0.06": "增值税 6%"},
)

EN = Company(
    country="US",
    departments=(("Head office", None), ("Sales", 0), ("Purchasing", 0), ("Finance", 0)),
    people=(
        Person("sarah.mitchell", "Sarah Mitchell", 0, "Managing Director"),
        Person("james.carter", "James Carter", 1, "Sales Manager", "sarah.mitchell"),
        Person("emily.brooks", "Emily Brooks", 1, "Sales Representative", "james.carter"),
        Person("daniel.hughes", "Daniel Hughes", 2, "Purchasing Officer", "sarah.mitchell"),
        Person("olivia.bennett", "Olivia Bennett", 3, "Accountant", "sarah.mitchell"),
    ),
    parties=(
        PartyData(
            "company",
            "Northwind Analytics Inc.",
            "c",
            "info@northwind.example",
            "+1 415 555 0101",
            "San Francisco",
            "500 Market Street",
            owner="james.carter",
        ),
        PartyData(
            "company",
            "Bluebird Dental Group",
            "c",
            "office@bluebird.example",
            "+1 503 555 0102",
            "Portland",
            "12 Alder Avenue",
            owner="james.carter",
        ),
        PartyData(
            "company",
            "Harbor Point Hotel",
            "c",
            "frontdesk@harborpoint.example",
            "+1 206 555 0103",
            "Seattle",
            "88 Pier Road",
            owner="emily.brooks",
        ),
        PartyData(
            "company",
            "Maple Street Law LLP",
            "c",
            "admin@maplelaw.example",
            "+1 312 555 0104",
            "Chicago",
            "230 Maple Street",
            owner="emily.brooks",
        ),
        PartyData(
            "company",
            "Cedar Grove School",
            "c",
            "office@cedargrove.example",
            "+1 720 555 0105",
            "Denver",
            "7 Cedar Lane",
            owner="james.carter",
        ),
        PartyData(
            "company",
            "Summit Architects",
            "c",
            "studio@summitarch.example",
            "+1 617 555 0106",
            "Boston",
            "41 Beacon Street",
            owner="emily.brooks",
        ),
        PartyData(
            "company",
            "Acorn Office Supply Co.",
            "s",
            "sales@acornoffice.example",
            "+1 404 555 0107",
            "Atlanta",
            "1500 Peachtree Road",
            owner="daniel.hughes",
        ),
        PartyData(
            "company",
            "Redwood Furniture Works",
            "s",
            "orders@redwoodfw.example",
            "+1 916 555 0108",
            "Sacramento",
            "9 Mill Road",
            owner="daniel.hughes",
        ),
        PartyData(
            "company",
            "Inkwell Consumables Ltd",
            "s",
            "service@inkwell.example",
            "+1 614 555 0109",
            "Columbus",
            "300 High Street",
            owner="daniel.hughes",
        ),
        PartyData(
            "company",
            "Highland Coffee Roasters",
            "s",
            "beans@highland.example",
            "+1 802 555 0110",
            "Burlington",
            "18 Church Street",
            owner="daniel.hughes",
        ),
        PartyData(
            "company",
            "Lakeside IT Services",
            "cs",
            "hello@lakesideit.example",
            "+1 612 555 0111",
            "Minneapolis",
            "75 Lake Street",
            owner="james.carter",
        ),
        PartyData(
            "person",
            "Rachel Green",
            "",
            "rachel.green@northwind.example",
            "+1 415 555 0121",
            works_for="Northwind Analytics Inc.",
            owner="james.carter",
        ),
        PartyData(
            "person",
            "Tom Walker",
            "",
            "tom.walker@bluebird.example",
            "+1 503 555 0122",
            works_for="Bluebird Dental Group",
            owner="james.carter",
        ),
        PartyData(
            "person",
            "Priya Shah",
            "",
            "priya.shah@acornoffice.example",
            "+1 404 555 0123",
            works_for="Acorn Office Supply Co.",
            owner="daniel.hughes",
        ),
        PartyData(
            "person",
            "Michael Young",
            "c",
            "michael.young@mail.example",
            "+1 512 555 0124",
            "Austin",
            "22 Congress Avenue",
            owner="emily.brooks",
        ),
    ),
    products=(
        ProductData(
            "DEMO-001", "Copy paper A4, ream of 500", "pcs", "consumable", "6.50", "4.20", "0.08"
        ),
        ProductData("DEMO-002", "Laser printer", "pcs", "stockable", "289.00", "210.00", "0.08"),
        ProductData("DEMO-003", "Toner cartridge", "pcs", "stockable", "69.00", "42.00", "0.08"),
        ProductData(
            "DEMO-004", "Ergonomic office chair", "pcs", "stockable", "249.00", "150.00", "0.08"
        ),
        ProductData(
            "DEMO-005", "Meeting table, 6 ft", "pcs", "stockable", "499.00", "320.00", "0.08"
        ),
        ProductData("DEMO-006", "Gel pens", "dozen", "consumable", "9.00", "5.00", "0.08"),
        ProductData("DEMO-007", "Network cable Cat 6", "m", "stockable", "1.20", "0.60", "0.08"),
        ProductData("DEMO-008", "Floor cleaner", "L", "consumable", "4.50", "2.40", "0.08"),
        ProductData("DEMO-009", "Coffee beans", "kg", "stockable", "24.00", "14.00", "0.08"),
        ProductData("DEMO-010", "Equipment installation", "h", "service", "65.00", "0.00", "0"),
        ProductData("DEMO-011", "IT support", "day", "service", "480.00", "0.00", "0"),
        ProductData("DEMO-012", "Printer repair", "h", "service", "55.00", "0.00", "0"),
    ),
    tax_names={"0.08": "Sales tax 8%", "0": "Tax exempt"},
)

COMPANIES = {"zh-CN": ZH, "en": EN}
