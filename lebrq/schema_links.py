"""OpenAPI links (OpenAPI 3.0 §4.7.20) between the operations of a customer's booking: how the value one answer
gives feeds the next request. Clients can read the flow from them, and the stateful fuzzing (tests/fuzz) walks
it: register → log in → create a booking → read it → set its billing details → download its invoice → cancel it.

`add_links` is a drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``), run after
`lebrq.schema.strip_trailing_slashes`: operations are named here by method and path as the document lists them,
and each link names its target by ``operationId``.
"""

BOOKING_ID = {"id": "$response.body#/id"}  # a booking's answer carries its id
SAME_BOOKING = {"id": "$request.path.id"}  # the booking the request was about
NEW_ACCOUNT = {"username": "$request.body#/username", "password": "$request.body#/password"}

#: (method, path, status) of a source answer → {link name: (method, path of the target, link fields)}.
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict]]] = {
    ("post", "/api/users/register", "201"): {
        "LogIn": ("post", "/api/auth/login", {"requestBody": NEW_ACCOUNT}),
    },
    ("post", "/api/auth/login", "200"): {
        "CreateBooking": ("post", "/api/bookings", {}),
        "Me": ("get", "/api/auth/me", {}),
    },
    ("post", "/api/bookings", "201"): {
        "GetBooking": ("get", "/api/bookings/{id}", {"parameters": BOOKING_ID}),
        "SetBilling": ("patch", "/api/bookings/{id}/billing", {"parameters": BOOKING_ID}),
        "GetInvoice": ("get", "/api/bookings/{id}/invoice", {"parameters": BOOKING_ID}),
        "CancelBooking": ("post", "/api/bookings/{id}/cancel", {"parameters": BOOKING_ID}),
    },
    ("get", "/api/bookings/{id}", "200"): {
        "SetBilling": ("patch", "/api/bookings/{id}/billing", {"parameters": BOOKING_ID}),
        "GetInvoice": ("get", "/api/bookings/{id}/invoice", {"parameters": BOOKING_ID}),
        "CancelBooking": ("post", "/api/bookings/{id}/cancel", {"parameters": BOOKING_ID}),
    },
    ("patch", "/api/bookings/{id}/billing", "200"): {
        "GetInvoice": ("get", "/api/bookings/{id}/invoice", {"parameters": SAME_BOOKING}),
        "CancelBooking": ("post", "/api/bookings/{id}/cancel", {"parameters": SAME_BOOKING}),
    },
    ("get", "/api/bookings/{id}/invoice", "200"): {
        "CancelBooking": ("post", "/api/bookings/{id}/cancel", {"parameters": SAME_BOOKING}),
    },
    ("post", "/api/bookings/{id}/cancel", "200"): {
        "GetBooking": ("get", "/api/bookings/{id}", {"parameters": SAME_BOOKING}),
        "GetInvoice": ("get", "/api/bookings/{id}/invoice", {"parameters": SAME_BOOKING}),
    },
}

#: What each link says to a reader of the docs.
DESCRIPTIONS = {
    "LogIn": "Log in with the new account's username and password.",
    "CreateBooking": "Book with the access token this answer gives (`Authorization: Bearer <access_token>`).",
    "Me": "Read the account the access token belongs to.",
    "GetBooking": "Read the booking.",
    "SetBilling": "Set the invoice's buyer details of the booking.",
    "GetInvoice": "Download the booking's invoice.",
    "CancelBooking": "Cancel the booking.",
}


def add_links(result, generator, request, public):
    """Postprocessing hook: the `LINKS` on their answers. Raises `KeyError` naming a source or target operation
    or answer that the document does not have (the flow and the routes must change together)."""
    paths = result["paths"]
    for (method, path, status), links in LINKS.items():
        response = paths[path][method]["responses"][status]
        response["links"] = {
            name: {
                "operationId": paths[target_path][target_method]["operationId"],
                "description": DESCRIPTIONS[name],
                **fields,
            }
            for name, (target_method, target_path, fields) in links.items()
        }
    return result
