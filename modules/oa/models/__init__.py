"""OA's tables, one file per area; importing this package registers them all."""

from modules.oa.models.announcements import (  # noqa: F401
    Announcement,
    AnnouncementDepartment,
    AnnouncementRead,
)
from modules.oa.models.approvals import (  # noqa: F401
    ApprovalAction,
    ApprovalDelegation,
    ApprovalFlow,
    ApprovalFlowVersion,
    ApprovalInstance,
    ApprovalSettings,
    ApprovalTask,
)
from modules.oa.models.calendar import (  # noqa: F401
    CalendarEvent,
    CalendarMember,
    MeetingInvitee,
    MeetingRoom,
    SharedCalendar,
)
from modules.oa.models.documents import (  # noqa: F401
    Document,
    DocumentFolder,
    DocumentGrant,
    DocumentVersion,
)
from modules.oa.models.forms import Form, FormRequest, FormVersion  # noqa: F401
from modules.oa.models.tasks import Task  # noqa: F401
