"""``python manage.py seed_demo``: idempotent demo data — a venue with spaces and items, a staff and a
customer login, and bookings in several states with items and payments (see the README for the logins).

The data agrees with itself: every booking was made before its event, a paid booking's payment is its invoice's
grand total (`bookings.money`), so its tax invoice shows nothing due."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from bookings import money, pricing
from bookings.models import Booking, BookingItem, Item, Payment, Space, Venue

STAFF = ("admin", "lebrq-admin")
CUSTOMER = ("customer", "lebrq-customer")


class Command(BaseCommand):
    help = "Create demo data (safe to run again: existing rows are kept)."

    @transaction.atomic
    def handle(self, *args, **options):
        users = get_user_model()
        staff = self._user(users, *STAFF, is_staff=True, is_superuser=True, email="admin@lebrq.example")
        customer = self._user(users, *CUSTOMER, email="customer@lebrq.example", first_name="Asha", last_name="Menon")

        venue, _ = Venue.objects.get_or_create(
            name="LeBRQ Grand", defaults={"address": "12 MG Road", "city": "Kochi", "state": "Kerala"}
        )
        hall = self._space(venue, "Grand Hall", 300, "5000.00")
        terrace = self._space(venue, "Rooftop Terrace", 80, "2500.00")
        self._space(venue, "Board Room", 16, "1200.00")
        catering, _ = Item.objects.get_or_create(
            name="Catering (per plate)", defaults={"unit_price": Decimal("650.00"), "hsn_sac": "996334"}
        )
        projector, _ = Item.objects.get_or_create(
            name="Projector and screen", defaults={"unit_price": Decimal("1500.00"), "hsn_sac": "997329"}
        )

        now = timezone.localtime().replace(minute=0, second=0, microsecond=0)
        demo = [
            (
                "BK-00000DE001",
                hall,
                now + timedelta(days=14, hours=2),
                5,
                Booking.Status.CONFIRMED,
                "Wedding reception",
                [(catering, 120), (projector, 1)],
                Decimal("10000.00"),
            ),
            (
                "BK-00000DE002",
                terrace,
                now + timedelta(days=7),
                3,
                Booking.Status.PENDING,
                "Birthday party",
                [(catering, 40)],
                None,
            ),
            (
                "BK-00000DE003",
                hall,
                now - timedelta(days=10),
                4,
                Booking.Status.PAID,
                "Corporate offsite",
                [(projector, 2)],
                None,
            ),
            ("BK-00000DE004", terrace, now + timedelta(days=20), 2, Booking.Status.CANCELLED, "Book launch", [], None),
            ("BK-00000DE005", hall, now + timedelta(days=30), 6, Booking.Status.APPROVED, "Conference", [], None),
        ]
        created = 0
        for reference, space, start, hours, status, event, lines_of, paid in demo:
            if Booking.objects.filter(booking_reference=reference).exists():
                continue
            created += 1
            end = start + timedelta(hours=hours)
            totals = [pricing.line_total(qty, item.unit_price) for item, qty in lines_of]
            booking = Booking.objects.create(
                booking_reference=reference,
                customer=customer,
                space=space,
                start_datetime=start,
                end_datetime=end,
                attendees=min(space.capacity, 50),
                status=status,
                event_type=event,
                total_amount=pricing.booking_total(pricing.rental_amount(start, end, space.price_per_hour), totals),
            )
            for (item, qty), total in zip(lines_of, totals, strict=True):
                BookingItem.objects.create(
                    booking=booking,
                    item=item,
                    name=item.name,
                    hsn_sac=item.hsn_sac,
                    quantity=qty,
                    unit_price=item.unit_price,
                    line_total=total,
                )
            # Booked three weeks before the event (or before today, for one already held), paid the day before.
            booked_at = min(start, now) - timedelta(days=21)
            Booking.objects.filter(pk=booking.pk).update(created_at=booked_at, updated_at=booked_at)
            if status == Booking.Status.PAID:  # paid in full: the grand total the invoice asks for
                lines = [money.rental_line("", start, end, space.price_per_hour)]
                lines += [money.item_line(item.name, item.hsn_sac, qty, item.unit_price) for item, qty in lines_of]
                paid = money.booking_totals(lines).grand_total
            if paid:
                Payment.objects.create(
                    booking=booking,
                    amount=paid,
                    provider="razorpay",
                    provider_reference=f"pay_{reference[-6:]}",
                    status=Payment.Status.SUCCESS,
                    paid_at=min(start, now) - timedelta(days=1),
                )
        self.stdout.write(
            f"Demo data ready: {created} booking(s) created. Logins: {STAFF[0]}/{STAFF[1]} (staff), "
            f"{CUSTOMER[0]}/{CUSTOMER[1]} (customer). Staff: {staff.username}."
        )

    @staticmethod
    def _user(users, username, password, **fields):
        user, created = users.objects.get_or_create(username=username, defaults=fields)
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user

    @staticmethod
    def _space(venue, name, capacity, price):
        space, _ = Space.objects.get_or_create(
            venue=venue, name=name, defaults={"capacity": capacity, "price_per_hour": Decimal(price)}
        )
        return space
