// The caller's bookings by check-in, a page at a time, filtered by status.
import { useState } from "react";
import { useQuery } from "urql";

import { describeFailure } from "./commands";
import { MY_BOOKINGS, type BookingStatus, type BookingSummary } from "./operations";
import { Link } from "./router";
import { money, StatusBadge } from "./ui";

const PAGE_SIZE = 10;
const STATUSES: BookingStatus[] = ["PENDING", "CONFIRMED", "REJECTED", "CANCELLED"];

interface Page {
  myBookings: {
    edges: { cursor: string; node: BookingSummary }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

export function MyBookingsPage() {
  const [status, setStatus] = useState<BookingStatus | "">("");
  // The cursors of the pages before this one: Previous goes back one.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1];
  const [{ data, fetching, error }] = useQuery<Page>({
    query: MY_BOOKINGS,
    variables: { status: status || null, first: PAGE_SIZE, after },
  });
  const page = data?.myBookings;

  return (
    <section className="page">
      <h1>My bookings</h1>
      <div className="toolbar">
        <label>
          Status
          <select name="status" value={status} onChange={(e) => {
            setStatus(e.target.value as BookingStatus | "");
            setCursors([null]);
          }}>
            <option value="">All</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
      </div>
      {error && <p className="notice error" role="alert">{describeFailure(error)}</p>}
      {fetching && !page && <p className="muted">Loading…</p>}
      {page && page.edges.length === 0 && (
        <p className="muted">No bookings{status ? ` with status ${status}` : ""}. <Link to="/">Plan a trip</Link></p>
      )}
      {page && page.edges.length > 0 && (
        <table className="bookings">
          <thead>
            <tr><th>Booking</th><th>Status</th><th>Check-in</th><th>Trip</th><th>Total</th></tr>
          </thead>
          <tbody>
            {page.edges.map(({ node }) => (
              <tr key={node.id}>
                <td><Link to={`/bookings/${node.id}`}><code>{node.id.slice(0, 8)}</code></Link></td>
                <td><StatusBadge status={node.status} /></td>
                <td>{node.checkIn ?? "—"}</td>
                <td>
                  {[node.hotelStay ? `${node.hotelStay.hotelName}, ${node.hotelStay.city}` : null,
                    ...node.flights.map((f) => `${f.flightNumber} ${f.origin}→${f.destination}`)]
                    .filter(Boolean).join(" · ")}
                </td>
                <td className="price">{money(node.price.total, node.price.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="actions">
        <button type="button" className="secondary" disabled={cursors.length === 1}
          onClick={() => setCursors((all) => all.slice(0, -1))}>
          Previous page
        </button>
        <span className="muted">Page {cursors.length}</span>
        <button type="button" className="secondary" disabled={!page?.pageInfo.hasNextPage}
          onClick={() => page?.pageInfo.endCursor && setCursors((all) => [...all, page.pageInfo.endCursor])}>
          Next page
        </button>
      </div>
    </section>
  );
}
