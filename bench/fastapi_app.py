"""The throughput benchmark's peer (`bench/throughput.py`): the two reads built the way the original backend is
built — FastAPI with pydantic response models, the SQLAlchemy 2 async ORM (aiosqlite, or asyncmy for MariaDB)
with its QueuePool, and a bearer-token check on the bookings read — on the same database as ours, answering the
same JSON.

- ``GET /api/venues``: active venues (by name, id) with their active spaces (by name, id).
- ``GET /api/bookings``: the caller's bookings, newest first, page 1 of 20, with items and payments, in
  ``{items, pagination}``; the token is our own HS256 JWT (djangorestframework-simplejwt, signed with
  ``SECRET_KEY``), checked and its user loaded as the original's ``get_current_user`` did. Each booking also
  carries what ours computes: its cancellation deadline (``CANCEL_CUTOFF`` hours before an approved, confirmed
  or paid booking's start; a pending one's start) and its money (GST at ``GST_RATE_PERCENT``, CGST + SGST, the
  grand total rounded to the rupee, the successful payments, the balance).

Environment: ``PEER_DATABASE_URL`` (``sqlite+aiosqlite:///path`` or ``mysql+asyncmy://user@host:port/name``),
``SECRET_KEY``, ``TIME_ZONE`` (``Asia/Kolkata``: datetimes are written in it, as DRF does), ``PEER_POOL_SIZE``
and ``PEER_MAX_OVERFLOW`` (2 and 2, ours' defaults), ``CANCEL_CUTOFF`` (24) and ``GST_RATE_PERCENT`` (18), as ours.
Run: ``uvicorn bench.fastapi_app:app``.
"""

import math
import os
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, PlainSerializer
from sqlalchemy import ForeignKey, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship, selectinload

ZONE = ZoneInfo(os.environ.get("TIME_ZONE", "Asia/Kolkata"))
SECRET_KEY = os.environ["SECRET_KEY"]
DATABASE_URL = os.environ["PEER_DATABASE_URL"]
CANCEL_CUTOFF = timedelta(hours=int(os.environ.get("CANCEL_CUTOFF", "24")))
GST_RATE = Decimal(os.environ.get("GST_RATE_PERCENT", "18"))
PAISA, RUPEE = Decimal("0.01"), Decimal("1")

if DATABASE_URL.startswith("sqlite"):
    engine = create_async_engine(DATABASE_URL)
else:
    engine = create_async_engine(
        DATABASE_URL,
        pool_size=int(os.environ.get("PEER_POOL_SIZE", "2")),
        max_overflow=int(os.environ.get("PEER_MAX_OVERFLOW", "2")),
        pool_pre_ping=True,
        pool_recycle=900,
    )
Session = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "auth_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    is_active: Mapped[bool]
    is_staff: Mapped[bool]


class Venue(Base):
    __tablename__ = "bookings_venue"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    address: Mapped[str]
    city: Mapped[str]
    state: Mapped[str]
    is_active: Mapped[bool]
    spaces: Mapped[list["Space"]] = relationship(order_by="(Space.name, Space.id)")


class Space(Base):
    __tablename__ = "bookings_space"
    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("bookings_venue.id"))
    name: Mapped[str]
    capacity: Mapped[int]
    price_per_hour: Mapped[Decimal]
    is_active: Mapped[bool]
    venue: Mapped[Venue] = relationship(back_populates="spaces")


class Booking(Base):
    __tablename__ = "bookings_booking"
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_reference: Mapped[str]
    customer_id: Mapped[int]
    space_id: Mapped[int] = mapped_column(ForeignKey("bookings_space.id"))
    price_per_hour: Mapped[Decimal | None]
    start_datetime: Mapped[datetime]
    end_datetime: Mapped[datetime]
    attendees: Mapped[int]
    status: Mapped[str]
    event_type: Mapped[str]
    customer_note: Mapped[str]
    admin_note: Mapped[str]
    total_amount: Mapped[Decimal]
    billing_name: Mapped[str]
    billing_phone: Mapped[str]
    billing_email: Mapped[str]
    billing_address: Mapped[str]
    billing_gstin: Mapped[str]
    invoice_number: Mapped[str | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    space: Mapped[Space] = relationship()
    items: Mapped[list["BookingItem"]] = relationship(order_by="BookingItem.id")
    payments: Mapped[list["Payment"]] = relationship(order_by="Payment.id")


class BookingItem(Base):
    __tablename__ = "bookings_bookingitem"
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings_booking.id"))
    item_id: Mapped[int | None]
    name: Mapped[str]
    hsn_sac: Mapped[str]
    quantity: Mapped[int]
    unit_price: Mapped[Decimal]
    line_total: Mapped[Decimal]


class Payment(Base):
    __tablename__ = "bookings_payment"
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings_booking.id"))
    amount: Mapped[Decimal]
    provider: Mapped[str]
    provider_reference: Mapped[str]
    status: Mapped[str]
    paid_at: Mapped[datetime | None]


def _iso(value: datetime | None) -> str | None:
    """DRF's form: ISO 8601 in TIME_ZONE (the database holds naive UTC)."""
    if value is None:
        return None
    text = value.replace(tzinfo=UTC).astimezone(ZONE).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


Money = Annotated[Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str)]
When = Annotated[datetime | None, PlainSerializer(_iso, return_type=str | None)]


class SpaceOut(BaseModel):
    id: int
    venue_id: int
    name: str
    capacity: int
    price_per_hour: Money


class VenueOut(BaseModel):
    id: int
    name: str
    address: str
    city: str
    state: str
    spaces: list[SpaceOut]


class BookingItemOut(BaseModel):
    id: int
    item_id: int | None
    name: str
    hsn_sac: str
    quantity: int
    unit_price: Money
    line_total: Money


class PaymentOut(BaseModel):
    id: int
    amount: Money
    provider: str
    provider_reference: str
    status: str
    paid_at: When


class BookingOut(BaseModel):
    id: int
    booking_reference: str
    customer_id: int
    space_id: int
    space: SpaceOut
    venue_name: str
    start_datetime: When
    end_datetime: When
    attendees: int
    status: str
    cancellation_deadline: When
    event_type: str
    customer_note: str
    total_amount: Money
    tax: Money
    cgst: Money
    sgst: Money
    igst: Money
    round_off: Money
    grand_total: Money
    amount_paid: Money
    balance_due: Money
    billing_name: str
    billing_phone: str
    billing_email: str
    billing_address: str
    billing_gstin: str
    invoice_number: str | None
    items: list[BookingItemOut]
    payments: list[PaymentOut]
    created_at: When
    updated_at: When


class Pagination(BaseModel):
    page: int
    page_size: int
    total: int
    total_pages: int
    has_next: bool
    has_prev: bool


class BookingPage(BaseModel):
    items: list[BookingOut]
    pagination: Pagination


def _paise(amount: Decimal) -> Decimal:
    return amount.quantize(PAISA, rounding=ROUND_HALF_UP)


def cancellation_deadline(booking: Booking) -> datetime | None:
    """Until when the customer may cancel: a pending booking until its start, an approved, confirmed or paid one
    until CANCEL_CUTOFF before it; None otherwise."""
    if booking.status == "pending":
        return booking.start_datetime
    if booking.status in ("approved", "confirmed", "paid"):
        return booking.start_datetime - CANCEL_CUTOFF
    return None


def money(booking: Booking) -> dict[str, Decimal]:
    """The booking's GST totals: the rental (elapsed hours × the booking's or its space's hourly rate) and its
    items, each rounded to paise; CGST and SGST at half GST_RATE each; the grand total rounded to the rupee."""
    hours = Decimal(int((booking.end_datetime - booking.start_datetime).total_seconds())) / 3600
    rate = booking.space.price_per_hour if booking.price_per_hour is None else booking.price_per_hour
    lines = [_paise(hours * rate), *(_paise(Decimal(item.quantity) * item.unit_price) for item in booking.items)]
    taxable = _paise(sum(lines, Decimal(0)))
    half = _paise(taxable * (GST_RATE / 2) / 100)
    before = taxable + half + half
    grand_total = before.quantize(RUPEE, rounding=ROUND_HALF_UP).quantize(PAISA)
    paid = _paise(sum((p.amount for p in booking.payments if p.status == "success"), Decimal(0)))
    return {
        "tax": half + half,
        "cgst": half,
        "sgst": half,
        "igst": Decimal(0),
        "round_off": grand_total - before,
        "grand_total": grand_total,
        "amount_paid": paid,
        "balance_due": grand_total - paid,
    }


app = FastAPI()


async def session():
    async with Session() as db:
        yield db


async def current_user(
    db: Annotated[AsyncSession, Depends(session)], authorization: Annotated[str | None, Header()] = None
) -> User:
    """The bearer token's user, as the original's ``get_current_user``: 401 for a bad token or user."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "Not authenticated")
    try:
        claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, "Invalid token") from None
    user = await db.get(User, int(claims["user_id"]))
    if user is None or not user.is_active:
        raise HTTPException(401, "Invalid token")
    return user


@app.get("/api/venues", response_model=list[VenueOut])
async def venues(db: Annotated[AsyncSession, Depends(session)]):
    rows = await db.scalars(
        select(Venue).where(Venue.is_active).order_by(Venue.name, Venue.id).options(selectinload(Venue.spaces))
    )
    return [
        VenueOut(
            id=v.id,
            name=v.name,
            address=v.address,
            city=v.city,
            state=v.state,
            spaces=[SpaceOut.model_validate(s, from_attributes=True) for s in v.spaces if s.is_active],
        )
        for v in rows
    ]


@app.get("/api/bookings", response_model=BookingPage)
async def bookings(user: Annotated[User, Depends(current_user)], db: Annotated[AsyncSession, Depends(session)]):
    page, page_size = 1, 20
    visible = select(Booking) if user.is_staff else select(Booking).where(Booking.customer_id == user.id)
    total = await db.scalar(select(func.count()).select_from(visible.subquery()))
    rows = await db.scalars(
        visible.order_by(Booking.start_datetime.desc(), Booking.id.desc())
        .limit(page_size)
        .options(
            joinedload(Booking.space).joinedload(Space.venue),
            selectinload(Booking.items),
            selectinload(Booking.payments),
        )
    )
    items = [
        BookingOut.model_validate(
            {
                **{column: getattr(b, column) for column in BookingOut.model_fields if hasattr(Booking, column)},
                "cancellation_deadline": cancellation_deadline(b),
                **money(b),
                "space": SpaceOut.model_validate(b.space, from_attributes=True),
                "venue_name": b.space.venue.name,
                "items": [BookingItemOut.model_validate(i, from_attributes=True) for i in b.items],
                "payments": [PaymentOut.model_validate(p, from_attributes=True) for p in b.payments],
            }
        )
        for b in rows
    ]
    total_pages = math.ceil(total / page_size) if total else 0
    pagination = Pagination(
        page=page,
        page_size=page_size,
        total=total,
        total_pages=total_pages,
        has_next=page < total_pages,
        has_prev=page > 1,
    )
    return BookingPage(items=items, pagination=pagination)
