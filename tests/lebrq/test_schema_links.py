"""The OpenAPI links of the booking flow (`lebrq.schema_links`): on the answers that give the values, naming
operations that exist, with the runtime expressions that carry the values."""

import pytest

from lebrq.schema_links import LINKS


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_every_link_names_an_existing_operation(schema):
    operation_ids = {op["operationId"] for ops in schema["paths"].values() for op in ops.values()}
    links = [
        link
        for ops in schema["paths"].values()
        for op in ops.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) == sum(len(targets) for targets in LINKS.values()) == 15
    assert {link["operationId"] for link in links} <= operation_ids


def test_the_booking_flow_is_linked(schema):
    created = schema["paths"]["/api/bookings"]["post"]["responses"]["201"]["links"]
    assert {name: (link["operationId"], link["parameters"]) for name, link in created.items()} == {
        "GetBooking": ("api_bookings_retrieve", {"id": "$response.body#/id"}),
        "SetBilling": ("api_bookings_billing_partial_update", {"id": "$response.body#/id"}),
        "GetInvoice": ("api_bookings_invoice_retrieve", {"id": "$response.body#/id"}),
        "CancelBooking": ("api_bookings_cancel_create", {"id": "$response.body#/id"}),
    }
    registered = schema["paths"]["/api/users/register"]["post"]["responses"]["201"]["links"]["LogIn"]
    assert registered["requestBody"] == {"username": "$request.body#/username", "password": "$request.body#/password"}
    invoice = schema["paths"]["/api/bookings/{id}/invoice"]["get"]["responses"]["200"]["links"]
    assert invoice["CancelBooking"]["parameters"] == {"id": "$request.path.id"}
    assert set(schema["paths"]["/api/auth/login"]["post"]["responses"]["200"]["links"]) == {"CreateBooking", "Me"}
