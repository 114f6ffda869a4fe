"""The contracts JSON API under ``/api/t/{slug}/crm``: contracts with their payment plans and
approval, payments and overdue installments, service tickets, monthly targets.

Contracts need ``crm.contract.read`` / ``.write``, payments ``crm.payment.read`` /
``.write``, tickets ``crm.ticket.read`` / ``.write``, targets ``crm.target.read`` /
``.manage`` (a guard answers 403 naming the code). The data scopes are the services'
business: a record outside them is 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK
from msgspec import UNSET, convert
from sqlalchemy.ext.asyncio import AsyncSession

from core.permissions import Actor
from core.products.currency import base_currency
from modules.crm import permissions as codes
from modules.crm.models import Contract, Ticket
from modules.crm.schemas.contracts import (
    AttainmentOut,
    ContractChanges,
    ContractIn,
    ContractOut,
    ContractPage,
    DecisionIn,
    InstallmentOut,
    OverdueOut,
    PaymentIn,
    PaymentOut,
    PaymentPage,
    PlanIn,
    SignIn,
    SplitIn,
    TargetIn,
    TargetOut,
    TerminateIn,
    TicketChanges,
    TicketIn,
    TicketOut,
    TicketPage,
)
from modules.crm.services import contracts, payments, targets, tickets
from modules.crm.services.contracts import PlannedInstallment
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires


def _given(value: Any, current: Any) -> Any:
    return current if value is UNSET else value


# --- contracts -------------------------------------------------------------------------------


async def contract_out(session: AsyncSession, contract: Contract) -> ContractOut:
    plan = await contracts.installments_of(session, contract.id)
    on = contracts.today()
    return ContractOut(
        id=contract.id,
        number=contract.number,
        title=contract.title,
        customer_id=contract.party_id,
        contact_id=contract.contact_id,
        quote_id=contract.quote_id,
        opportunity_id=contract.opportunity_id,
        amount=contract.amount,
        currency=contract.currency,
        discount_percent=contract.discount_percent,
        status=contract.status,  # type: ignore[arg-type]
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        signed_on=contract.signed_on,
        base_amount=contract.base_amount,
        terms=contract.terms,
        approval_request_id=contract.approval_request_id,
        closed_at=contract.closed_at,
        close_reason=contract.close_reason,
        owner_id=contract.owner_id,
        department_id=contract.department_id,
        received=await payments.received_total(session, contract.id),
        installments=[
            InstallmentOut(
                id=i.id,
                sequence=i.sequence,
                due_on=i.due_on,
                amount=i.amount,
                paid_amount=i.paid_amount,
                open_amount=payments.open_amount(i),
                days_late=payments.days_late(i, contract.status, on),
            )
            for i in plan
        ],
        created_at=contract.created_at,
    )


class ContractApi(Controller):
    path = "/crm/contracts"
    tags = ("crm",)

    @get("/", guards=[requires(codes.CONTRACT_READ)])
    async def list_contracts(
        self,
        session: DbSession,
        actor: CurrentActor,
        q: FromQuery[str] = "",
        status: FromQuery[str] = "",
        customer_id: FromQuery[uuid.UUID | None] = None,
        after: FromQuery[str | None] = None,
    ) -> ContractPage:
        return await contracts.list_contracts(
            session, actor, status=status or None, search=q, party_id=customer_id, after=after
        )

    @post("/", guards=[requires(codes.CONTRACT_WRITE)])
    async def create_contract(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[ContractIn]
    ) -> ContractOut:
        made = await contracts.create_contract(session, actor, data)
        return await contract_out(session, made)

    @get("/{contract_id:uuid}", guards=[requires(codes.CONTRACT_READ)])
    async def get_contract(
        self, session: DbSession, actor: CurrentActor, contract_id: FromPath[uuid.UUID]
    ) -> ContractOut:
        return await contract_out(
            session, await contracts.get_contract(session, actor, contract_id)
        )

    @patch("/{contract_id:uuid}", guards=[requires(codes.CONTRACT_WRITE)])
    async def change_contract(
        self,
        session: DbSession,
        actor: CurrentActor,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[ContractChanges],
    ) -> ContractOut:
        now = await contracts.get_contract(session, actor, contract_id)
        changes = contracts.ContractChanges(
            title=_given(data.title, now.title),
            amount=_given(data.amount, now.amount),
            discount_percent=_given(data.discount_percent, now.discount_percent),
            contact_id=_given(data.contact_id, now.contact_id),
            starts_on=_given(data.starts_on, now.starts_on),
            ends_on=_given(data.ends_on, now.ends_on),
            terms=_given(data.terms, now.terms),
        )
        changed = await contracts.update_contract(session, actor, contract_id, changes)
        return await contract_out(session, changed)

    @put("/{contract_id:uuid}/installments", guards=[requires(codes.CONTRACT_WRITE)])
    async def set_plan(
        self,
        session: DbSession,
        actor: CurrentActor,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[PlanIn],
    ) -> ContractOut:
        planned = [PlannedInstallment(i.due_on, i.amount) for i in data.installments]
        await contracts.set_payment_plan(session, actor, contract_id, planned)
        return await contract_out(
            session, await contracts.get_contract(session, actor, contract_id)
        )

    @post(
        "/{contract_id:uuid}/installments/split",
        guards=[requires(codes.CONTRACT_WRITE)],
        status_code=HTTP_200_OK,
    )
    async def split_plan(
        self,
        session: DbSession,
        actor: CurrentActor,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[SplitIn],
    ) -> ContractOut:
        contract = await contracts.get_contract(session, actor, contract_id)
        planned = contracts.split_evenly(contract.amount, data.count, data.first_due_on)
        await contracts.set_payment_plan(session, actor, contract_id, planned)
        return await contract_out(session, contract)

    @post(
        "/{contract_id:uuid}/submit",
        guards=[requires(codes.CONTRACT_WRITE)],
        status_code=HTTP_200_OK,
    )
    async def submit(
        self,
        session: DbSession,
        tenant: CurrentTenant,
        registry: Registry,
        actor: CurrentActor,
        contract_id: FromPath[uuid.UUID],
    ) -> ContractOut:
        submitted = await contracts.submit_for_approval(
            session, tenant, registry, actor, contract_id
        )
        return await contract_out(session, submitted)

    @post(
        "/{contract_id:uuid}/decide",
        guards=[requires(codes.CONTRACT_WRITE)],
        status_code=HTTP_200_OK,
    )
    async def decide(
        self,
        session: DbSession,
        actor: CurrentActor,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[DecisionIn],
    ) -> ContractOut:
        """Approve or reject (owners and admins, under core's default rule; 403 otherwise)."""
        decided = await contracts.decide_approval(
            session, actor, contract_id, approve=data.approve, comment=data.comment
        )
        return await contract_out(session, decided)

    @post(
        "/{contract_id:uuid}/sign", guards=[requires(codes.CONTRACT_WRITE)], status_code=HTTP_200_OK
    )
    async def sign(
        self,
        session: DbSession,
        actor: CurrentActor,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[SignIn],
    ) -> ContractOut:
        signed = await contracts.sign_contract(session, actor, contract_id, data.signed_on)
        return await contract_out(session, signed)

    @post(
        "/{contract_id:uuid}/complete",
        guards=[requires(codes.CONTRACT_WRITE)],
        status_code=HTTP_200_OK,
    )
    async def complete(
        self, session: DbSession, actor: CurrentActor, contract_id: FromPath[uuid.UUID]
    ) -> ContractOut:
        done = await contracts.complete_contract(session, actor, contract_id)
        return await contract_out(session, done)

    @post(
        "/{contract_id:uuid}/terminate",
        guards=[requires(codes.CONTRACT_WRITE)],
        status_code=HTTP_200_OK,
    )
    async def terminate(
        self,
        session: DbSession,
        actor: CurrentActor,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[TerminateIn],
    ) -> ContractOut:
        ended = await contracts.terminate_contract(session, actor, contract_id, data.reason)
        return await contract_out(session, ended)


# --- payments --------------------------------------------------------------------------------


class PaymentApi(Controller):
    path = "/crm/payments"
    tags = ("crm",)

    @get("/", guards=[requires(codes.PAYMENT_READ)])
    async def list_payments(
        self,
        session: DbSession,
        actor: CurrentActor,
        contract_id: FromQuery[uuid.UUID | None] = None,
        after: FromQuery[str | None] = None,
    ) -> PaymentPage:
        return await payments.list_payments(session, actor, contract_id=contract_id, after=after)

    @get("/overdue", guards=[requires(codes.PAYMENT_READ)])
    async def overdue(self, session: DbSession, actor: CurrentActor) -> list[OverdueOut]:
        return await payments.overdue_installments(session, actor)

    @post("/", guards=[requires(codes.PAYMENT_WRITE)])
    async def record_payment(
        self,
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        data: JSONBody[PaymentIn],
    ) -> PaymentOut:
        made = await payments.record_payment(session, tenant, actor, data)
        return convert(made, PaymentOut, from_attributes=True)


# --- tickets ---------------------------------------------------------------------------------


def ticket_out(ticket: Ticket) -> TicketOut:
    return TicketOut(
        id=ticket.id,
        number=ticket.number,
        customer_id=ticket.party_id,
        contact_id=ticket.contact_id,
        subject=ticket.subject,
        description=ticket.description,
        priority=ticket.priority,  # type: ignore[arg-type]
        status=ticket.status,  # type: ignore[arg-type]
        sla_due_at=ticket.sla_due_at,
        overdue=tickets.is_overdue(ticket),
        resolved_at=ticket.resolved_at,
        assignee_id=ticket.owner_id,
        department_id=ticket.department_id,
        created_at=ticket.created_at,
    )


class TicketApi(Controller):
    path = "/crm/tickets"
    tags = ("crm",)

    @get("/", guards=[requires(codes.TICKET_READ)])
    async def list_tickets(
        self,
        session: DbSession,
        actor: CurrentActor,
        q: FromQuery[str] = "",
        status: FromQuery[str] = "",
        overdue: FromQuery[bool] = False,
        customer_id: FromQuery[uuid.UUID | None] = None,
        after: FromQuery[str | None] = None,
    ) -> TicketPage:
        return await tickets.list_tickets(
            session,
            actor,
            status=status or None,
            overdue=overdue,
            search=q,
            party_id=customer_id,
            after=after,
        )

    @post("/", guards=[requires(codes.TICKET_WRITE)])
    async def open_ticket(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[TicketIn]
    ) -> TicketOut:
        made = await tickets.open_ticket(session, actor, data)
        return ticket_out(made)

    @get("/{ticket_id:uuid}", guards=[requires(codes.TICKET_READ)])
    async def get_ticket(
        self, session: DbSession, actor: CurrentActor, ticket_id: FromPath[uuid.UUID]
    ) -> TicketOut:
        return ticket_out(await tickets.get_ticket(session, actor, ticket_id))

    @patch("/{ticket_id:uuid}", guards=[requires(codes.TICKET_WRITE)])
    async def change_ticket(
        self,
        session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[uuid.UUID],
        data: JSONBody[TicketChanges],
    ) -> TicketOut:
        now = await tickets.get_ticket(session, actor, ticket_id)
        changes = tickets.TicketChanges(
            subject=_given(data.subject, now.subject),
            description=_given(data.description, now.description),
            priority=_given(data.priority, now.priority),
            assignee_id=_given(data.assignee_id, now.owner_id),
        )
        return ticket_out(await tickets.update_ticket(session, actor, ticket_id, changes))

    async def _move(
        self, session: AsyncSession, actor: Actor, ticket_id: uuid.UUID, action: str
    ) -> TicketOut:
        return ticket_out(await tickets.move_ticket(session, actor, ticket_id, action))

    @post("/{ticket_id:uuid}/start", guards=[requires(codes.TICKET_WRITE)], status_code=200)
    async def start(
        self, session: DbSession, actor: CurrentActor, ticket_id: FromPath[uuid.UUID]
    ) -> TicketOut:
        return await self._move(session, actor, ticket_id, "start")

    @post("/{ticket_id:uuid}/resolve", guards=[requires(codes.TICKET_WRITE)], status_code=200)
    async def resolve(
        self, session: DbSession, actor: CurrentActor, ticket_id: FromPath[uuid.UUID]
    ) -> TicketOut:
        return await self._move(session, actor, ticket_id, "resolve")

    @post("/{ticket_id:uuid}/close", guards=[requires(codes.TICKET_WRITE)], status_code=200)
    async def close(
        self, session: DbSession, actor: CurrentActor, ticket_id: FromPath[uuid.UUID]
    ) -> TicketOut:
        return await self._move(session, actor, ticket_id, "close")

    @post("/{ticket_id:uuid}/reopen", guards=[requires(codes.TICKET_WRITE)], status_code=200)
    async def reopen(
        self, session: DbSession, actor: CurrentActor, ticket_id: FromPath[uuid.UUID]
    ) -> TicketOut:
        return await self._move(session, actor, ticket_id, "reopen")


# --- targets ---------------------------------------------------------------------------------


class TargetApi(Controller):
    path = "/crm/targets"
    tags = ("crm",)

    @get("/", guards=[requires(codes.TARGET_READ)])
    async def attainment(
        self, session: DbSession, actor: CurrentActor, year: FromQuery[int | None] = None
    ) -> AttainmentOut:
        shown = year or contracts.today().year
        return AttainmentOut(
            year=shown,
            currency=await base_currency(session),
            holders=await targets.year_attainment(session, actor, shown),
        )

    @put("/", guards=[requires(codes.TARGET_MANAGE)])
    async def set_target(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[TargetIn]
    ) -> TargetOut:
        saved = await targets.set_target(
            session,
            actor,
            month=data.month,
            amount=data.amount,
            user_id=data.user_id,
            team_id=data.team_id,
        )
        return convert(saved, TargetOut, from_attributes=True)


ROUTERS = (ContractApi, PaymentApi, TicketApi, TargetApi)
