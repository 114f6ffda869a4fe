"""OA's permission codes, with what the built-in Member role gets. Codes are
``oa.<resource>.<action>``; the resource names the data scope (``core.roles``)."""

from __future__ import annotations

from core.plugins.manifest import Permission

# --- approvals (codes) ---
APPROVAL_READ = "oa.approval.read"  # the inbox: what involves the member
APPROVAL_MANAGE = "oa.approval.manage"  # see every approval of the workspace
FLOW_MANAGE = "oa.flow.manage"  # edit the approval flows
# --- announcements (codes) ---
ANNOUNCEMENT_READ = "oa.announcement.read"
ANNOUNCEMENT_PUBLISH = "oa.announcement.publish"
# --- tasks (codes) ---
TASK_READ, TASK_WRITE = "oa.task.read", "oa.task.write"
# --- calendar (codes) ---
CALENDAR_READ, CALENDAR_WRITE = "oa.calendar.read", "oa.calendar.write"
ROOM_MANAGE = "oa.room.manage"
# --- forms (codes) ---
FORM_MANAGE = "oa.form.manage"  # design forms, deactivate built-in ones
# --- documents (codes) ---
DOCUMENT_READ = "oa.document.read"  # the documents tab: folder grants decide what is seen
DOCUMENT_MANAGE = "oa.document.manage"  # see and change every folder; set folder grants
# --- reports (codes) ---
REPORT_READ = "oa.report.read"  # every approval of the workspace, counted

PERMISSIONS: tuple[Permission, ...] = (
    # --- approvals ---
    Permission(APPROVAL_READ, "See and act on the approvals that involve you", member="own"),
    Permission(APPROVAL_MANAGE, "See every approval of the workspace"),
    Permission(FLOW_MANAGE, "Edit approval flows"),
    # --- announcements ---
    # Every member reads what targets them; publishers (admins, or a custom role such as
    # "HR") write, publish and withdraw any announcement and see who has not read it.
    Permission(ANNOUNCEMENT_READ, "See announcements", member="all"),
    Permission(ANNOUNCEMENT_PUBLISH, "Publish and withdraw announcements; see who read them"),
    # --- tasks ---
    # "own" tasks are those a member created or is assigned (services/tasks.py).
    Permission(TASK_READ, "See tasks", member="own"),
    Permission(TASK_WRITE, "Create, assign and move tasks", member="own"),
    # --- calendar ---
    # "own": a member's own calendar, the shared calendars they belong to and the meetings
    # they are invited to (services/calendar.py); nobody sees another's private events.
    Permission(CALENDAR_READ, "See calendars, meetings and room schedules", member="own"),
    Permission(CALENDAR_WRITE, "Add events, invite to meetings and book rooms", member="own"),
    Permission(ROOM_MANAGE, "Manage meeting rooms"),
    # --- forms ---
    # Filing a request on a form needs only oa.approval.read; designing forms is for admins.
    Permission(FORM_MANAGE, "Design approval forms"),
    # --- documents ---
    # "all": what a member sees of the documents is decided by each folder's grants
    # (services/documents.py), not by a data scope.
    Permission(DOCUMENT_READ, "See documents in the folders granted to you", member="all"),
    Permission(DOCUMENT_MANAGE, "See and manage every document folder and set who may use it"),
    # --- reports ---
    # Counts and times over every approval of the workspace: owners and admins.
    Permission(REPORT_READ, "Read the approval reports"),
)
