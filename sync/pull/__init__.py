"""What the hub pulls from a centre's FHIR server (the opposite way to the outbox): the patient's
self-care plan (careplans.py), the questionnaires assigned to them. Each module is a small reader
over an httpx client with the destination's own auth and TLS; it hands documents to the hub's
services, which check them before anything is used."""
