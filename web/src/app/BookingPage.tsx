// One booking: status, items, price breakdown and history, kept current by the
// bookingUpdated subscription (PENDING turns CONFIRMED without a reload); apply a perk,
// change the stay's dates, cancel.
import { useState, type FormEvent } from "react";
import { useQuery, useSubscription } from "urql";

import { describeFailure, problemsAt, useCommand } from "./commands";
import { useConnection } from "./connection";
import {
  APPLY_PERK,
  BOOKING,
  BOOKING_UPDATED,
  CANCEL_BOOKING,
  CHANGE_STAY_DATES,
  type Booking,
} from "./operations";
import { Link } from "./router";
import { FieldErrors, money, OutcomeMessage, StatusBadge } from "./ui";

export function BookingPage({ bookingId, minVersion }: { bookingId: string; minVersion: number | null }) {
  const [read] = useQuery<{ booking: Booking | null }>({
    query: BOOKING,
    variables: { id: bookingId, minVersion },
  });
  const [live] = useSubscription<{ bookingUpdated: Booking }, Booking>(
    { query: BOOKING_UPDATED, variables: { id: bookingId }, pause: !read.data?.booking },
    (_previous, update) => update.bookingUpdated,
  );

  if (read.fetching && !read.data) return <section className="page"><p className="muted">Loading the booking…</p></section>;
  if (read.error) {
    return (
      <section className="page">
        <p className="notice error" role="alert">{describeFailure(read.error)}</p>
      </section>
    );
  }
  const first = read.data?.booking ?? null;
  if (!first) {
    return (
      <section className="page">
        <h1>Booking not found</h1>
        <p className="notice error" role="alert" data-code="BOOKING_NOT_FOUND">
          There is no booking {bookingId} that you may see.
        </p>
        <p><Link to="/bookings">Your bookings</Link></p>
      </section>
    );
  }
  const booking = live.data && live.data.version >= first.version ? live.data : first;
  return <BookingDetails booking={booking} liveError={live.error ? describeFailure(live.error) : null} />;
}

function ConnectionNotice({ liveError }: { liveError: string | null }) {
  const connection = useConnection();
  if (liveError) return <p className="connection lost" role="status">Live updates stopped: {liveError}</p>;
  switch (connection.status) {
    case "live":
      return (
        <p className="connection live" role="status" data-testid="connection">
          {connection.reconnected ? "Reconnected: live updates are back" : "Live updates on"}
        </p>
      );
    case "lost":
      return <p className="connection lost" role="status" data-testid="connection">Connection lost: reconnecting…</p>;
    case "refused":
      return <p className="connection lost" role="status" data-testid="connection">Live updates refused your token: sign in again</p>;
    default:
      return <p className="connection" role="status" data-testid="connection">Connecting for live updates…</p>;
  }
}

function BookingDetails({ booking, liveError }: { booking: Booking; liveError: string | null }) {
  const stay = booking.hotelStay;
  const currency = booking.price.currency;
  const open = booking.status === "PENDING" || booking.status === "CONFIRMED";
  return (
    <section className="page booking" aria-label="Booking">
      <header className="booking-head">
        <h1>Booking <code>{booking.id}</code></h1>
        <StatusBadge status={booking.status} testId="booking-status" />
        <ConnectionNotice liveError={liveError} />
      </header>
      {booking.status === "CANCELLED" && booking.cancellationReason && (
        <p className="muted">Cancelled: {booking.cancellationReason}</p>
      )}
      <div className="columns">
        <div>
          <section className="card" aria-label="Items">
            <h2>Items</h2>
            {stay && (
              <div className="item" data-testid="hotel-stay">
                <h3>{stay.hotelName}, {stay.city} <StatusBadge status={stay.status} /></h3>
                <p>{stay.roomName}: {stay.checkIn} to {stay.checkOut} ({stay.nights} nights), {stay.guests} guest{stay.guests === 1 ? "" : "s"}</p>
                <p>{money(stay.nightlyPrice, currency)} a night · {money(stay.price, currency)}</p>
                {stay.confirmationCode && <p>Hotel confirmation: <code>{stay.confirmationCode}</code></p>}
                {stay.rejectionReason && <p className="notice error">{stay.rejectionReason}</p>}
              </div>
            )}
            {booking.flights.map((flight) => (
              <div className="item" key={`${flight.flightId}-${flight.date}`} data-testid="flight">
                <h3>{flight.airline} {flight.flightNumber} <StatusBadge status={flight.status} /></h3>
                <p>{flight.origin} {flight.departureTime} → {flight.destination} {flight.arrivalTime} on {flight.date}</p>
                <p>{flight.cabin}, {flight.seats} seat{flight.seats === 1 ? "" : "s"} × {money(flight.unitPrice, currency)} = {money(flight.price, currency)}</p>
                {flight.confirmationCode && <p>Airline confirmation: <code>{flight.confirmationCode}</code></p>}
                {flight.rejectionReason && <p className="notice error">{flight.rejectionReason}</p>}
              </div>
            ))}
            <p className="muted">Travelers: {booking.travelers.map((t) => t.name).join(", ")}</p>
          </section>
          <PriceBreakdown booking={booking} />
          <PerksPanel booking={booking} open={open} />
        </div>
        <div>
          {open && stay && <ChangeDates booking={booking} />}
          {open && <CancelBooking booking={booking} />}
          <section className="card" aria-label="History">
            <h2>History</h2>
            <ol className="history">
              {booking.history.map((entry) => (
                <li key={entry.version}>
                  <time dateTime={entry.at}>{new Date(entry.at).toLocaleString()}</time> {entry.description}
                </li>
              ))}
            </ol>
          </section>
        </div>
      </div>
    </section>
  );
}

function PriceBreakdown({ booking }: { booking: Booking }) {
  const { price } = booking;
  return (
    <section className="card" aria-label="Price">
      <h2>Price</h2>
      <table className="breakdown">
        <tbody>
          <tr><th>Base</th><td className="price">{money(price.base, price.currency)}</td></tr>
          {price.discounts.map((discount) => (
            <tr key={discount.code}><th>{discount.title}</th><td className="price">−{money(discount.amount, price.currency)}</td></tr>
          ))}
          <tr className="total"><th>Total</th><td className="price" data-testid="price-total">{money(price.total, price.currency)}</td></tr>
        </tbody>
      </table>
    </section>
  );
}

function PerksPanel({ booking, open }: { booking: Booking; open: boolean }) {
  const { outcome, busy, send } = useCommand();

  async function apply(code: string) {
    await send(APPLY_PERK, { input: { bookingId: booking.id, perkCode: code } });
  }

  return (
    <section className="card" aria-label="Perks">
      <h2>Perks</h2>
      {booking.perks.length === 0 && <p className="muted">This trip carries no perks.</p>}
      <ul className="perk-list">
        {booking.perks.map((perk) => (
          <li key={`${perk.item}-${perk.code}`}>
            <span>{perk.title}</span> <span className="muted">({perk.item})</span>{" "}
            {perk.applied ? (
              <StatusBadge status="APPLIED" />
            ) : (
              open && (
                <button type="button" className="secondary" disabled={busy} onClick={() => void apply(perk.code)}>
                  Apply
                </button>
              )
            )}
          </li>
        ))}
      </ul>
      <OutcomeMessage outcome={outcome} accepted="Perk applied." />
    </section>
  );
}

function ChangeDates({ booking }: { booking: Booking }) {
  const stay = booking.hotelStay!;
  const [checkIn, setCheckIn] = useState(stay.checkIn);
  const [checkOut, setCheckOut] = useState(stay.checkOut);
  const { outcome, busy, send } = useCommand();

  async function change(event: FormEvent) {
    event.preventDefault();
    await send(CHANGE_STAY_DATES, { input: { bookingId: booking.id, checkIn, checkOut } });
  }

  return (
    <form className="card" onSubmit={change} aria-label="Change dates" noValidate>
      <h2>Change the stay's dates</h2>
      <label>
        Check-in
        <input type="date" name="checkIn" value={checkIn} onChange={(e) => setCheckIn(e.target.value)} />
      </label>
      <FieldErrors messages={problemsAt(outcome, "checkIn")} />
      <label>
        Check-out
        <input type="date" name="checkOut" value={checkOut} onChange={(e) => setCheckOut(e.target.value)} />
      </label>
      <FieldErrors messages={problemsAt(outcome, "checkOut")} />
      <OutcomeMessage outcome={outcome} accepted="Dates changed." />
      <div className="actions">
        <button type="submit" className="secondary" disabled={busy}>Change dates</button>
      </div>
    </form>
  );
}

function CancelBooking({ booking }: { booking: Booking }) {
  const [reason, setReason] = useState("");
  const { outcome, busy, send } = useCommand();

  async function cancel(event: FormEvent) {
    event.preventDefault();
    await send(CANCEL_BOOKING, { input: { bookingId: booking.id, reason: reason.trim() || null } });
  }

  return (
    <form className="card" onSubmit={cancel} aria-label="Cancel booking" noValidate>
      <h2>Cancel</h2>
      <label>
        Reason (optional)
        <input name="reason" value={reason} onChange={(e) => setReason(e.target.value)} />
      </label>
      <FieldErrors messages={problemsAt(outcome, "reason")} />
      <OutcomeMessage outcome={outcome} accepted="Cancellation sent." />
      <div className="actions">
        <button type="submit" className="danger" disabled={busy}>Cancel booking</button>
      </div>
    </form>
  );
}
