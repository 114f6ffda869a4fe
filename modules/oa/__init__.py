"""OA: the workspace's approvals (every kind, through core's approval port) and the office
around them: announcements, documents, calendar and meetings, tasks. The guide is
``docs/modules/oa.md``."""
