"""The reference design, as its brief describes it: one synchronous
FastAPI/SQLAlchemy process that charges, writes the order and sends the
email inside the request, and repairs by a periodic scan.

A purchase request charges the card at the processor (Stripe's own Python
library, pointed at the sandbox), writes the customer, the order and the
customer's access with the SQLAlchemy ORM in one transaction, and sends the
confirmation over SMTP, all before it answers. The endpoint is a plain
`def`, so FastAPI runs it on its thread pool (40 threads by default). A
thread repairs, every 15 seconds, paid checkouts of the last ten minutes
that have no order: a request that died after the charge.

paidup-load writes this file into its work directory and runs it with
Debian's Python and packages:

    apt-get install python3-fastapi python3-sqlalchemy python3-uvicorn \\
        python3-psycopg2 python3-stripe
    python3 reference_shop.py --listen 127.0.0.1:PORT --database-url URL \\
        --api-url URL --smtp-url smtp://HOST:PORT --secret-key KEY
"""

import argparse
import datetime
import logging
import smtplib
import threading
import time
import urllib.parse
import uuid
from email.message import EmailMessage

import anyio.to_thread
import stripe
import uvicorn
from fastapi import FastAPI, Form, HTTPException
from sqlalchemy import (Column, DateTime, ForeignKey, Integer, String, create_engine, event)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool

PLAN_ID, PRICE_ID = "pro-annual", "price_pro_annual"
SENDER = "Load Test Community <billing@example.com>"

log = logging.getLogger("reference")
Base = declarative_base()


class Customer(Base):
    __tablename__ = "ref_customers"
    email = Column(String, primary_key=True)
    created_at = Column(DateTime, nullable=False)


class Order(Base):
    __tablename__ = "ref_orders"
    payment_id = Column(String, primary_key=True)
    checkout_id = Column(String, nullable=False)
    email = Column(String, ForeignKey("ref_customers.email"), nullable=False)
    plan = Column(String, nullable=False)
    amount = Column(Integer, nullable=False)
    currency = Column(String, nullable=False)
    created_at = Column(DateTime, nullable=False)


class Access(Base):
    __tablename__ = "ref_access"
    email = Column(String, ForeignKey("ref_customers.email"), primary_key=True)
    tier = Column(String, nullable=False)
    granted_at = Column(DateTime, nullable=False)


def open_database(url):
    """An engine for paidup-load's database URL: sqlite:PATH or postgres://…"""
    if url.startswith("sqlite:"):
        engine = create_engine(
            "sqlite:///" + url[len("sqlite:"):],
            connect_args={"check_same_thread": False, "timeout": 10},
            # The same pool as for PostgreSQL below (SQLAlchemy's default
            # there), rather than a new connection per request.
            poolclass=QueuePool, pool_size=5, max_overflow=10,
        )

        @event.listens_for(engine, "connect")
        def durable(conn, _):
            # As durable as paidup: each commit is on disk before it returns.
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        # SQLAlchemy's default pool: 5 connections and 10 overflow.
        engine = create_engine(url.replace("postgres://", "postgresql+psycopg2://", 1))
    Base.metadata.create_all(engine)
    return engine


class Mailer:
    """Sends over SMTP, keeping one connection per request thread."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 25
        self.local = threading.local()

    def send(self, msg):
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = smtplib.SMTP(self.host, self.port, timeout=30)
            try:
                conn.send_message(msg)
                return
            except (smtplib.SMTPServerDisconnected, OSError):
                # A kept connection the server closed: once more on a new one.
                self.local.conn = None
                if attempt == 2:
                    raise


class Shop:
    def __init__(self, args):
        stripe.api_key = args.secret_key
        stripe.api_base = args.api_url
        stripe.max_network_retries = 0
        self.sessions = sessionmaker(bind=open_database(args.database_url))
        self.mailer = Mailer(args.smtp_url)

    def charge(self, email):
        """Charges the card: a checkout session for the plan, paid with the
        test card through the sandbox's test helper."""
        reference = uuid.uuid4().hex
        session = stripe.checkout.Session.create(
            mode="payment",
            line_items=[{"price": PRICE_ID, "quantity": 1}],
            customer_email=email,
            # A customer object, to match later payments to this person.
            customer_creation="always",
            client_reference_id=reference,
            metadata={"plan": PLAN_ID},
            success_url="http://127.0.0.1:1/done",
            cancel_url="http://127.0.0.1:1/cancel",
            # As the Go reference's client does: a retried create returns
            # the same session.
            idempotency_key="checkout-" + reference,
        )
        paid, _ = stripe.api_requestor.APIRequestor().request(
            "post", "/v1/test_helpers/checkout/sessions/%s/pay" % session.id,
            {"payment_method": "pm_card_visa"})
        if paid.data.get("payment_status") != "paid":
            raise RuntimeError("checkout %s: %s" % (session.id, paid.data.get("payment_status")))
        return {"id": session.id, "email": email, "payment_id": paid.data["payment_intent"],
                "amount": paid.data["amount_total"], "currency": paid.data["currency"]}

    def fulfil(self, co):
        """Writes the order and the access in one transaction, then sends
        the confirmation; does nothing if the order exists."""
        now = datetime.datetime.utcnow()
        for attempt in (1, 2):
            with self.sessions() as db:
                try:
                    with db.begin():
                        if db.get(Order, co["payment_id"]) is not None:
                            return
                        if db.get(Customer, co["email"]) is None:
                            db.add(Customer(email=co["email"], created_at=now))
                            db.flush()
                        db.add(Order(payment_id=co["payment_id"], checkout_id=co["id"], email=co["email"],
                                     plan=PLAN_ID, amount=co["amount"], currency=co["currency"], created_at=now))
                        db.merge(Access(email=co["email"], tier="pro", granted_at=now))
                    break
                except IntegrityError:
                    # Another transaction wrote the order (the repair scan) or
                    # the customer (their other purchase) first: once more,
                    # which returns above if the order is there.
                    if attempt == 2:
                        raise
        amount = "%.2f %s" % (co["amount"] / 100, co["currency"].upper())
        msg = EmailMessage()
        msg["From"], msg["To"] = SENDER, co["email"]
        msg["Subject"] = "You're in: Pro, one year"
        msg["Message-ID"] = "<order-%s@example.com>" % co["payment_id"]
        msg["Date"] = datetime.datetime.now(datetime.timezone.utc)
        msg.set_content("Thank you for your purchase of Pro, one year (%s).\n\nYour access is active now.\n" % amount)
        msg.add_alternative("<p>Thank you for your purchase of <b>Pro, one year</b> (%s).</p>"
                            "<p>Your access is active now.</p>" % amount, subtype="html")
        self.mailer.send(msg)

    def repair_forever(self, every):
        while True:
            time.sleep(every)
            try:
                since = int(time.time()) - 600
                for s in stripe.checkout.Session.list(created={"gte": since}, limit=100).auto_paging_iter():
                    if s.payment_status != "paid" or not s.payment_intent:
                        continue
                    with self.sessions() as db:
                        if db.get(Order, s.payment_intent) is not None:
                            continue
                    self.fulfil({"id": s.id, "email": s.customer_details.email if s.customer_details else s.customer_email,
                                 "payment_id": s.payment_intent, "amount": s.amount_total, "currency": s.currency})
            except Exception:
                log.exception("repair scan failed")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--database-url", required=True)
    p.add_argument("--api-url", required=True)
    p.add_argument("--smtp-url", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--threads", type=int, default=40)
    p.add_argument("--scan-interval", type=float, default=15)
    args = p.parse_args()
    host, port = args.listen.rsplit(":", 1)
    if host != "127.0.0.1":
        raise SystemExit("--listen: the reference binds to 127.0.0.1 only")
    logging.basicConfig(level=logging.WARNING)

    shop = Shop(args)
    app = FastAPI()

    @app.on_event("startup")
    async def threads():
        anyio.to_thread.current_default_thread_limiter().total_tokens = args.threads

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    @app.post("/purchase")
    def purchase(email: str = Form(...)):
        try:
            co = shop.charge(email)
        except Exception as e:
            log.warning("charge failed: %s", e)
            raise HTTPException(status_code=402, detail="payment failed")
        shop.fulfil(co)
        return {"status": "paid", "payment": co["payment_id"]}

    threading.Thread(target=shop.repair_forever, args=(args.scan_interval,), daemon=True).start()
    uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
