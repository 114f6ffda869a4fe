"""CRM's demo content, one per language: the sales team's customers, leads, deals, tickets
and targets (:mod:`modules.crm.services.demo` loads it).

Content, not interface text, like core's demo company (:mod:`tenants.demo_company`): the
Chinese sales floor is not a translation of the English one. Customers, contacts and
salespeople are named as core's demo company names them; products by their SKU. Days are
counted from the day the demo is loaded, so the pipeline always looks current.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CustomerPlan:
    name: str  # a demo party of tenants.demo_company
    level: str  # A, B or C
    source: str  # a code of modules.crm.services.customers.SOURCES
    industry: str
    stage: str  # a lifecycle stage


@dataclass(frozen=True, slots=True)
class LeadPlan:
    name: str
    company: str
    title: str
    email: str
    phone: str
    source: str  # a code of modules.crm.models.leads.LEAD_SOURCES
    region: str
    owner: str  # a demo salesperson's login
    status: str  # new, contacted, qualified, disqualified or converted
    reason: str = ""  # why it was disqualified
    deal: str = ""  # converted: the opportunity it becomes
    deal_amount: str = "0"
    deal_close_in: int = 0
    level: str = ""  # converted: the new customer's level and industry
    industry: str = ""


@dataclass(frozen=True, slots=True)
class DealPlan:
    key: str  # what else the loader makes of it (modules.crm.services.demo): "" for nothing
    customer: str
    name: str
    stage: int | str  # an open stage of the default pipeline (0 = its first), "won" or "lost"
    close_in: int  # expected close, in days from today (negative: it closed already)
    lines: tuple[tuple[str, str], ...]  # (product SKU, quantity)
    contact: str | None = None
    reason: str = ""  # why it was won or lost


@dataclass(frozen=True, slots=True)
class FollowUpPlan:
    customer: str
    kind: str  # call, visit, meeting, message or email
    content: str
    days_ago: int
    next_in: int | None = None  # the next follow-up, in days from today
    contact: str | None = None


@dataclass(frozen=True, slots=True)
class TicketPlan:
    customer: str
    subject: str
    description: str
    priority: str
    status: str  # open, in_progress or resolved
    hours_ago: int  # when the customer asked
    contact: str | None = None


@dataclass(frozen=True, slots=True)
class CrmDemo:
    customers: tuple[CustomerPlan, ...]
    leads: tuple[LeadPlan, ...]
    deals: tuple[DealPlan, ...]
    follow_ups: tuple[FollowUpPlan, ...]
    tickets: tuple[TicketPlan, ...]
    targets: dict[str, str]  # salesperson's login -> this month's target
    quote_notes: str
    revision_discount: str  # percent off every line of the revised quote
    signed_title: str  # the contract written from the accepted quote
    direct_title: str  # the contract written directly, for the "service" deal
    terms: str
    approval_comment: str
    pool_customer: str
    pool_reason: str


ZH = CrmDemo(
    customers=(
        CustomerPlan("上海华东科技有限公司", "A", "referral", "信息技术", "repeat"),
        CustomerPlan("杭州云帆网络科技有限公司", "B", "exhibition", "互联网", "customer"),
        CustomerPlan("北京博远咨询有限公司", "B", "cold_call", "咨询服务", "customer"),
        CustomerPlan("深圳市前海贸易有限公司", "C", "advertising", "批发零售", "prospect"),
        CustomerPlan("南京金陵酒店管理有限公司", "A", "referral", "酒店餐饮", "customer"),
        CustomerPlan("苏州工业园区启明学校", "B", "web_form", "教育", "prospect"),
        CustomerPlan("武汉楚天信息技术有限公司", "B", "manual", "信息技术", "customer"),
        CustomerPlan("吴磊", "C", "referral", "个人工作室", "prospect"),
    ),
    leads=(
        LeadPlan(
            "郑凯",
            "厦门海岸物流有限公司",
            "采购经理",
            "zheng.kai@haian-logistics.example",
            "+86 592 6123 7701",
            "exhibition",
            "福建",
            "wang.qiang",
            "new",
        ),
        LeadPlan(
            "黄丽",
            "青岛蓝海餐饮管理有限公司",
            "行政主管",
            "huang.li@lanhai.example",
            "+86 532 8576 2202",
            "advertising",
            "山东",
            "li.na",
            "contacted",
        ),
        LeadPlan(
            "林峰",
            "合肥智造装备有限公司",
            "IT 经理",
            "lin.feng@zhizao.example",
            "+86 551 6532 9903",
            "referral",
            "安徽",
            "li.na",
            "qualified",
        ),
        LeadPlan(
            "马超",
            "",
            "",
            "ma.chao@mail.example",
            "+86 135 0010 4404",
            "web_form",
            "广东",
            "wang.qiang",
            "disqualified",
            reason="个人一次性采购两盒签字笔，暂无持续需求。",
        ),
        LeadPlan(
            "何静",
            "长沙湘江医疗器械有限公司",
            "办公室主任",
            "he.jing@xiangjiang-med.example",
            "+86 731 8455 6605",
            "referral",
            "湖南",
            "li.na",
            "converted",
            deal="湘江医疗新办公室办公设备",
            deal_amount="36000.00",
            deal_close_in=60,
            level="B",
            industry="医疗器械",
        ),
    ),
    deals=(
        DealPlan(
            "signed",
            "上海华东科技有限公司",
            "华东科技新办公区家具采购",
            "won",
            -3,
            (("DEMO-004", "40"), ("DEMO-005", "4")),
            contact="赵敏",
            reason="方案和报价获客户认可，按报价签约。",
        ),
        DealPlan(
            "service",
            "北京博远咨询有限公司",
            "博远咨询年度 IT 运维服务",
            "won",
            -45,
            (("DEMO-011", "24"),),
            reason="服务响应快，客户决定按年度签约。",
        ),
        DealPlan(
            "revised",
            "杭州云帆网络科技有限公司",
            "云帆网络打印设备更新",
            2,
            25,
            (("DEMO-002", "6"), ("DEMO-003", "12")),
            contact="孙浩",
        ),
        DealPlan(
            "draft_quote",
            "上海华东科技有限公司",
            "华东科技打印机维保服务",
            2,
            40,
            (("DEMO-012", "30"), ("DEMO-003", "10")),
            contact="赵敏",
        ),
        DealPlan(
            "",
            "武汉楚天信息技术有限公司",
            "楚天信息机房运维外包",
            3,
            15,
            (("DEMO-011", "60"),),
        ),
        DealPlan(
            "",
            "北京博远咨询有限公司",
            "博远咨询办公用品年度供应",
            1,
            45,
            (("DEMO-001", "200"), ("DEMO-006", "50")),
        ),
        DealPlan(
            "",
            "南京金陵酒店管理有限公司",
            "金陵酒店客房打印设备更换",
            1,
            50,
            (("DEMO-002", "10"), ("DEMO-003", "20")),
        ),
        DealPlan(
            "",
            "吴磊",
            "吴磊工作室咖啡豆月度采购",
            1,
            30,
            (("DEMO-009", "20"),),
        ),
        DealPlan(
            "",
            "苏州工业园区启明学校",
            "启明学校多媒体教室网络布线",
            0,
            75,
            (("DEMO-007", "2000"), ("DEMO-010", "40")),
        ),
        DealPlan(
            "lost",
            "深圳市前海贸易有限公司",
            "前海贸易会议室升级",
            "lost",
            -20,
            (("DEMO-005", "2"), ("DEMO-004", "12")),
            reason="客户选择了报价更低的本地供应商。",
        ),
    ),
    follow_ups=(
        FollowUpPlan(
            "上海华东科技有限公司",
            "visit",
            "上门确认新办公区的座位图和交付时间，赵敏希望月底前完成安装。",
            6,
            next_in=3,
            contact="赵敏",
        ),
        FollowUpPlan(
            "杭州云帆网络科技有限公司",
            "call",
            "孙浩反馈报价偏高，希望整体再优惠一些，已答应出修订版报价。",
            2,
            next_in=2,
            contact="孙浩",
        ),
        FollowUpPlan(
            "北京博远咨询有限公司",
            "meeting",
            "季度服务回顾会：客户对运维响应满意，询问办公用品年度供应方案。",
            9,
            next_in=7,
        ),
        FollowUpPlan(
            "武汉楚天信息技术有限公司",
            "email",
            "发送机房运维外包服务方案和人员配置说明。",
            4,
            next_in=5,
        ),
        FollowUpPlan(
            "南京金陵酒店管理有限公司",
            "call",
            "酒店计划明年一季度更换客房楼层的打印机，先提供型号对比。",
            12,
            next_in=10,
        ),
        FollowUpPlan(
            "苏州工业园区启明学校",
            "message",
            "微信沟通暑期布线改造计划，学校需要先提交预算申请。",
            15,
            next_in=20,
        ),
    ),
    tickets=(
        TicketPlan(
            "上海华东科技有限公司",
            "会议室打印机频繁卡纸",
            "三楼会议室的激光打印机每天卡纸数次，影响会议资料打印。",
            "high",
            "in_progress",
            30,
            contact="赵敏",
        ),
        TicketPlan(
            "北京博远咨询有限公司",
            "提供本月运维巡检报告",
            "客户希望每月初收到上月的机房巡检报告。",
            "normal",
            "open",
            3,
        ),
        TicketPlan(
            "南京金陵酒店管理有限公司",
            "更换硒鼓后打印发灰",
            "前台打印机更换硒鼓后打印颜色偏淡，已远程指导清洁处理。",
            "low",
            "resolved",
            50,
        ),
    ),
    targets={"li.na": "80000.00", "wang.qiang": "50000.00"},
    quote_notes="含送货和安装，报价有效期内价格不变。",
    revision_discount="5",
    signed_title="华东科技新办公区家具采购合同",
    direct_title="博远咨询年度 IT 运维服务合同",
    terms="合同签订后按付款计划付款；货到验收合格后 7 日内支付尾款。",
    approval_comment="价格和付款条件符合公司政策，同意。",
    pool_customer="深圳市前海贸易有限公司",
    pool_reason="项目已丢单，客户近期没有采购计划，退回公海。",
)

EN = CrmDemo(
    customers=(
        CustomerPlan("Northwind Analytics Inc.", "A", "referral", "Software", "repeat"),
        CustomerPlan("Bluebird Dental Group", "B", "exhibition", "Healthcare", "customer"),
        CustomerPlan("Harbor Point Hotel", "B", "cold_call", "Hospitality", "customer"),
        CustomerPlan("Maple Street Law LLP", "C", "advertising", "Legal services", "prospect"),
        CustomerPlan("Cedar Grove School", "A", "referral", "Education", "customer"),
        CustomerPlan("Summit Architects", "B", "web_form", "Architecture", "prospect"),
        CustomerPlan("Lakeside IT Services", "B", "manual", "IT services", "customer"),
        CustomerPlan("Michael Young", "C", "referral", "Freelance design", "prospect"),
    ),
    leads=(
        LeadPlan(
            "Kevin Ortiz",
            "Pacific Freight Logistics",
            "Purchasing Manager",
            "kevin.ortiz@pacificfreight.example",
            "+1 562 555 0131",
            "exhibition",
            "California",
            "emily.brooks",
            "new",
        ),
        LeadPlan(
            "Laura Chen",
            "Riverside Bistro Group",
            "Office Manager",
            "laura.chen@riversidebistro.example",
            "+1 503 555 0132",
            "advertising",
            "Oregon",
            "james.carter",
            "contacted",
        ),
        LeadPlan(
            "Mark Fischer",
            "Granite Manufacturing Co.",
            "IT Manager",
            "mark.fischer@granitemfg.example",
            "+1 801 555 0133",
            "referral",
            "Utah",
            "james.carter",
            "qualified",
        ),
        LeadPlan(
            "Nina Patel",
            "",
            "",
            "nina.patel@mail.example",
            "+1 646 555 0134",
            "web_form",
            "New York",
            "emily.brooks",
            "disqualified",
            reason="A one-off order of two boxes of pens; no ongoing need.",
        ),
        LeadPlan(
            "Hannah Moore",
            "Oakridge Medical Supplies",
            "Office Administrator",
            "hannah.moore@oakridgemed.example",
            "+1 865 555 0135",
            "referral",
            "Tennessee",
            "james.carter",
            "converted",
            deal="Oakridge Medical new office equipment",
            deal_amount="9500.00",
            deal_close_in=60,
            level="B",
            industry="Medical supplies",
        ),
    ),
    deals=(
        DealPlan(
            "signed",
            "Northwind Analytics Inc.",
            "Northwind new office floor furniture",
            "won",
            -3,
            (("DEMO-004", "40"), ("DEMO-005", "4")),
            contact="Rachel Green",
            reason="They liked the layout proposal and signed at the quoted price.",
        ),
        DealPlan(
            "service",
            "Harbor Point Hotel",
            "Harbor Point annual IT support",
            "won",
            -45,
            (("DEMO-011", "24"),),
            reason="Quick response times won them over; signed for the year.",
        ),
        DealPlan(
            "revised",
            "Bluebird Dental Group",
            "Bluebird printer refresh",
            2,
            25,
            (("DEMO-002", "6"), ("DEMO-003", "12")),
            contact="Tom Walker",
        ),
        DealPlan(
            "draft_quote",
            "Northwind Analytics Inc.",
            "Northwind printer maintenance plan",
            2,
            40,
            (("DEMO-012", "30"), ("DEMO-003", "10")),
            contact="Rachel Green",
        ),
        DealPlan(
            "",
            "Lakeside IT Services",
            "Lakeside server room support",
            3,
            15,
            (("DEMO-011", "60"),),
        ),
        DealPlan(
            "",
            "Harbor Point Hotel",
            "Harbor Point office supplies for the year",
            1,
            45,
            (("DEMO-001", "200"), ("DEMO-006", "50")),
        ),
        DealPlan(
            "",
            "Cedar Grove School",
            "Cedar Grove classroom printers",
            1,
            50,
            (("DEMO-002", "10"), ("DEMO-003", "20")),
        ),
        DealPlan(
            "",
            "Michael Young",
            "Michael Young studio coffee subscription",
            1,
            30,
            (("DEMO-009", "20"),),
        ),
        DealPlan(
            "",
            "Summit Architects",
            "Summit Architects studio cabling",
            0,
            75,
            (("DEMO-007", "2000"), ("DEMO-010", "40")),
        ),
        DealPlan(
            "lost",
            "Maple Street Law LLP",
            "Maple Street meeting room upgrade",
            "lost",
            -20,
            (("DEMO-005", "2"), ("DEMO-004", "12")),
            reason="They went with a cheaper local supplier.",
        ),
    ),
    follow_ups=(
        FollowUpPlan(
            "Northwind Analytics Inc.",
            "visit",
            "Walked the new floor with Rachel to confirm the seating plan; "
            "they want everything installed by the end of the month.",
            6,
            next_in=3,
            contact="Rachel Green",
        ),
        FollowUpPlan(
            "Bluebird Dental Group",
            "call",
            "Tom finds the quote a little high and asked for a better overall price; "
            "promised a revised quote.",
            2,
            next_in=2,
            contact="Tom Walker",
        ),
        FollowUpPlan(
            "Harbor Point Hotel",
            "meeting",
            "Quarterly service review: happy with our response times, asked about "
            "a yearly office supplies plan.",
            9,
            next_in=7,
        ),
        FollowUpPlan(
            "Lakeside IT Services",
            "email",
            "Sent the server room support proposal with the staffing plan.",
            4,
            next_in=5,
        ),
        FollowUpPlan(
            "Cedar Grove School",
            "call",
            "The school plans to replace classroom printers next term; sending a model "
            "comparison first.",
            12,
            next_in=10,
        ),
        FollowUpPlan(
            "Summit Architects",
            "message",
            "Chatted about re-cabling the studio over the summer; they need budget approval first.",
            15,
            next_in=20,
        ),
    ),
    tickets=(
        TicketPlan(
            "Northwind Analytics Inc.",
            "Meeting room printer keeps jamming",
            "The laser printer in the third-floor meeting room jams several times a day.",
            "high",
            "in_progress",
            30,
            contact="Rachel Green",
        ),
        TicketPlan(
            "Harbor Point Hotel",
            "Send this month's support report",
            "They would like last month's server room check report early each month.",
            "normal",
            "open",
            3,
        ),
        TicketPlan(
            "Cedar Grove School",
            "Faint prints after a toner change",
            "The front office printer prints faintly since its toner was replaced; "
            "talked them through cleaning it.",
            "low",
            "resolved",
            50,
        ),
    ),
    targets={"james.carter": "20000.00", "emily.brooks": "12000.00"},
    quote_notes="Delivery and installation included; prices hold while the quote is valid.",
    revision_discount="5",
    signed_title="Northwind new office floor furniture",
    direct_title="Harbor Point annual IT support agreement",
    terms="Payments follow the payment plan; the balance is due within 7 days of acceptance.",
    approval_comment="Price and payment terms are within policy. Approved.",
    pool_customer="Maple Street Law LLP",
    pool_reason="The deal was lost and they plan no purchases soon; back to the pool.",
)

CONTENT = {"zh-CN": ZH, "en": EN}
