"""OA's demo content, one per language: the office's announcements, meetings, tasks and
approvals (:mod:`modules.oa.services.demo` loads it).

Content, not interface text, like core's demo company (:mod:`tenants.demo_company`): the
Chinese office is not a translation of the English one. People are core's demo members by
login, departments by their index in the demo company. Days count from the day the demo is
loaded, so the office always looks current.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AnnouncementPlan:
    title: str
    body: str
    departments: tuple[int, ...] = ()  # () is everyone
    pinned: bool = False
    readers: tuple[str, ...] = ()  # who has opened it already


@dataclass(frozen=True, slots=True)
class MeetingPlan:
    title: str
    organiser: str
    in_days: int
    hour: int  # local hour of the start, in the organiser's time zone
    minutes: int
    invitees: tuple[str, ...]
    in_room: bool = True
    accepted: tuple[str, ...] = ()
    declined: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskPlan:
    title: str
    description: str
    creator: str
    assignee: str
    due_in: int | None
    priority: str  # low, normal, high or urgent
    status: str = "todo"  # todo, in_progress or done
    subtasks: tuple[tuple[str, bool], ...] = ()  # (title, done)


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """A request filed on a built-in form, as its page would be typed (``f.<key>`` names;
    a value ``@N`` is the date N days from today), and how far its approval has gone."""

    form: str  # a built-in form's code
    requester: str
    typed: dict[str, str]
    receipts: tuple[str, ...] = ()  # one PDF receipt each, with this line on it
    outcome: str = "pending"  # pending, approved, returned or rejected
    approvals: int = 0  # pending: how many approvers approved already
    comment: str = ""  # the approver's, for returned and rejected


@dataclass(frozen=True, slots=True)
class FolderPlan:
    name: str
    departments: tuple[int, ...] = ()  # edit grants; () leaves the folder open to everyone
    policy: tuple[str, str] | None = None  # a PDF document in it: (file name, its text)


@dataclass(frozen=True, slots=True)
class OaDemo:
    announcements: tuple[AnnouncementPlan, ...]
    room: tuple[str, int, str]  # name, seats, location
    shared_calendar: tuple[str, tuple[str, ...]]  # name, members
    meetings: tuple[MeetingPlan, ...]
    tasks: tuple[TaskPlan, ...]
    finance: str  # who approves expense claims over FINANCE_ABOVE
    finance_step: str  # that step's name
    copied: str  # who is copied on every expense claim
    requests: tuple[RequestPlan, ...]
    folders: tuple[FolderPlan, ...]


#: Expense claims over this go to Finance after the manager (as the third announcement says).
FINANCE_ABOVE = "5000"


ZH = OaDemo(
    announcements=(
        AnnouncementPlan(
            "关于元旦放假安排的通知",
            "根据国家规定，元旦放假一天，1 月 1 日休息，1 月 2 日正常上班。请各部门提前安排好"
            "工作，做好节前安全检查。",
            pinned=True,
            readers=("li.na", "chen.jing"),
        ),
        AnnouncementPlan(
            "本季度销售冲刺动员",
            "第四季度目标已下达到每位销售，请在周五前更新商机阶段和预计成交日期。",
            departments=(1,),
            readers=("li.na",),
        ),
        AnnouncementPlan(
            "报销流程调整",
            "即日起，5,000 元以上的报销在直属主管审批后还需财务审批，请上传完整的发票照片。",
        ),
    ),
    room=("一号会议室", 8, "三楼东侧"),
    shared_calendar=("销售部日程", ("li.na", "wang.qiang")),
    meetings=(
        MeetingPlan(
            "周一销售例会",
            "li.na",
            1,
            9,
            60,
            ("wang.qiang", "zhang.wei"),
            accepted=("wang.qiang",),
        ),
        MeetingPlan(
            "年度预算评审",
            "zhang.wei",
            3,
            14,
            90,
            ("chen.jing", "liu.yang", "li.na"),
            accepted=("chen.jing",),
            declined=("liu.yang",),
        ),
    ),
    tasks=(
        TaskPlan(
            "准备年度预算初稿",
            "汇总各部门明年的费用计划，形成预算初稿。",
            "zhang.wei",
            "chen.jing",
            5,
            "high",
            "in_progress",
            (("收集销售部费用计划", True), ("收集采购部费用计划", False)),
        ),
        TaskPlan(
            "更新客户拜访计划",
            "把下周的客户拜访排进销售部日程。",
            "li.na",
            "wang.qiang",
            2,
            "normal",
        ),
        TaskPlan(
            "核对办公用品库存",
            "",
            "zhang.wei",
            "liu.yang",
            -1,
            "low",
        ),
        TaskPlan(
            "签订打印机维保合同",
            "",
            "zhang.wei",
            "liu.yang",
            -7,
            "normal",
            "done",
        ),
    ),
    finance="chen.jing",
    finance_step="财务审核",
    copied="zhang.wei",
    requests=(
        RequestPlan(
            "expense",
            "wang.qiang",
            {
                "f.lines.1.date": "@-6",
                "f.lines.1.category": "travel",
                "f.lines.1.description": "上海—杭州高铁往返",
                "f.lines.1.amount": "292.00",
                "f.lines.2.date": "@-6",
                "f.lines.2.category": "lodging",
                "f.lines.2.description": "杭州酒店一晚",
                "f.lines.2.amount": "458.00",
                "f.note": "拜访杭州西湖贸易",
            },
            receipts=("Rail ticket  CNY 292.00", "Hotel  CNY 458.00"),
            outcome="approved",
        ),
        RequestPlan(
            "expense",
            "li.na",
            {
                "f.lines.1.date": "@-3",
                "f.lines.1.category": "entertainment",
                "f.lines.1.description": "年度大客户答谢晚宴",
                "f.lines.1.amount": "6800.00",
            },
            receipts=("Dinner  CNY 6,800.00",),
            approvals=1,
        ),
        RequestPlan(
            "leave",
            "wang.qiang",
            {
                "f.leave_type": "annual",
                "f.period.start": "@10",
                "f.period.end": "@11",
                "f.days": "2",
                "f.reason": "回老家探亲",
            },
            outcome="approved",
        ),
        RequestPlan(
            "trip",
            "liu.yang",
            {
                "f.destination": "深圳",
                "f.period.start": "@7",
                "f.period.end": "@9",
                "f.purpose": "考察两家电子元器件供应商",
                "f.estimated_cost": "3600.00",
            },
        ),
        RequestPlan(
            "purchase",
            "liu.yang",
            {
                "f.lines.1.item": "A4 打印纸（箱）",
                "f.lines.1.quantity": "20",
                "f.lines.1.unit_price": "125.00",
                "f.lines.2.item": "硒鼓",
                "f.lines.2.quantity": "4",
                "f.lines.2.unit_price": "380.00",
                "f.reason": "下季度办公用纸和打印耗材",
            },
            outcome="returned",
            comment="请补充两家供应商的报价。",
        ),
        RequestPlan(
            "supplies",
            "wang.qiang",
            {"f.lines.1.item": "笔记本", "f.lines.1.quantity": "5"},
            outcome="rejected",
            comment="本月已经领过，下月再申请。",
        ),
    ),
    folders=(
        FolderPlan(
            "公司制度", policy=("报销制度.pdf", "Expense policy: claims over 5,000 need Finance.")
        ),
        FolderPlan("销售资料", departments=(1,)),
        FolderPlan("财务", departments=(3,)),
    ),
)

EN = OaDemo(
    announcements=(
        AnnouncementPlan(
            "Office closed on New Year's Day",
            "The office is closed on 1 January and open again on 2 January. Please plan your "
            "work ahead and switch off the equipment before you leave.",
            pinned=True,
            readers=("james.carter", "olivia.bennett"),
        ),
        AnnouncementPlan(
            "Quarter-end sales push",
            "Every salesperson has their Q4 target. Please bring your opportunities' stages "
            "and expected close dates up to date by Friday.",
            departments=(1,),
            readers=("james.carter",),
        ),
        AnnouncementPlan(
            "Expense claims: a new step",
            "From today, claims over 5,000 are approved by Finance after your manager. Please "
            "attach a clear photo of every receipt.",
        ),
    ),
    room=("Boardroom", 8, "Third floor, east"),
    shared_calendar=("Sales team", ("james.carter", "emily.brooks")),
    meetings=(
        MeetingPlan(
            "Monday sales meeting",
            "james.carter",
            1,
            9,
            60,
            ("emily.brooks", "sarah.mitchell"),
            accepted=("emily.brooks",),
        ),
        MeetingPlan(
            "Annual budget review",
            "sarah.mitchell",
            3,
            14,
            90,
            ("olivia.bennett", "daniel.hughes", "james.carter"),
            accepted=("olivia.bennett",),
            declined=("daniel.hughes",),
        ),
    ),
    tasks=(
        TaskPlan(
            "Draft next year's budget",
            "Gather every department's spending plans into a first draft.",
            "sarah.mitchell",
            "olivia.bennett",
            5,
            "high",
            "in_progress",
            (("Collect the sales team's plan", True), ("Collect purchasing's plan", False)),
        ),
        TaskPlan(
            "Plan next week's customer visits",
            "Put next week's visits on the sales team's calendar.",
            "james.carter",
            "emily.brooks",
            2,
            "normal",
        ),
        TaskPlan(
            "Count the office supplies",
            "",
            "sarah.mitchell",
            "daniel.hughes",
            -1,
            "low",
        ),
        TaskPlan(
            "Sign the printer maintenance contract",
            "",
            "sarah.mitchell",
            "daniel.hughes",
            -7,
            "normal",
            "done",
        ),
    ),
    finance="olivia.bennett",
    finance_step="Finance",
    copied="sarah.mitchell",
    requests=(
        RequestPlan(
            "expense",
            "emily.brooks",
            {
                "f.lines.1.date": "@-6",
                "f.lines.1.category": "travel",
                "f.lines.1.description": "Train to Sacramento and back",
                "f.lines.1.amount": "148.00",
                "f.lines.2.date": "@-6",
                "f.lines.2.category": "meals",
                "f.lines.2.description": "Lunch with Bluebird Dental",
                "f.lines.2.amount": "86.50",
                "f.note": "Quarterly visit",
            },
            receipts=("Rail ticket  USD 148.00", "Lunch  USD 86.50"),
            outcome="approved",
        ),
        RequestPlan(
            "expense",
            "james.carter",
            {
                "f.lines.1.date": "@-3",
                "f.lines.1.category": "entertainment",
                "f.lines.1.description": "Customer appreciation dinner",
                "f.lines.1.amount": "5400.00",
            },
            receipts=("Dinner  USD 5,400.00",),
            approvals=1,
        ),
        RequestPlan(
            "leave",
            "emily.brooks",
            {
                "f.leave_type": "annual",
                "f.period.start": "@10",
                "f.period.end": "@11",
                "f.days": "2",
                "f.reason": "Family visit",
            },
            outcome="approved",
        ),
        RequestPlan(
            "trip",
            "daniel.hughes",
            {
                "f.destination": "Austin",
                "f.period.start": "@7",
                "f.period.end": "@9",
                "f.purpose": "Visit two component suppliers",
                "f.estimated_cost": "1900.00",
            },
        ),
        RequestPlan(
            "purchase",
            "daniel.hughes",
            {
                "f.lines.1.item": "Copier paper (box)",
                "f.lines.1.quantity": "20",
                "f.lines.1.unit_price": "32.00",
                "f.lines.2.item": "Toner cartridge",
                "f.lines.2.quantity": "4",
                "f.lines.2.unit_price": "95.00",
                "f.reason": "Paper and toner for next quarter",
            },
            outcome="returned",
            comment="Please add a second supplier's quote.",
        ),
        RequestPlan(
            "supplies",
            "emily.brooks",
            {"f.lines.1.item": "Notebooks", "f.lines.1.quantity": "5"},
            outcome="rejected",
            comment="You had some this month; ask again next month.",
        ),
    ),
    folders=(
        FolderPlan(
            "Company policies",
            policy=("Expense policy.pdf", "Expense policy: claims over 5,000 need Finance."),
        ),
        FolderPlan("Sales materials", departments=(1,)),
        FolderPlan("Finance", departments=(3,)),
    ),
)

CONTENT = {"zh-CN": ZH, "en": EN}
