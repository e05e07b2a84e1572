// Search hotels by city and dates and flights by route and day, compare each offer's
// perks and price side by side, pick a room and fares, name the travelers, book.
import { useState, type FormEvent } from "react";
import { useQuery } from "urql";

import { describeFailure, problemsAt, useCommand } from "./commands";
import {
  REQUEST_BOOKING,
  SEARCH_FLIGHTS,
  SEARCH_HOTELS,
  type Cabin,
  type FlightOffer,
  type HotelOffer,
} from "./operations";
import { navigate } from "./router";
import { addDays, FieldErrors, isoDay, money, OutcomeMessage, Perks } from "./ui";

interface HotelSearch {
  city: string;
  checkIn: string;
  checkOut: string;
}

interface FlightSearch {
  from: string;
  to: string;
  date: string;
}

interface ChosenRoom {
  hotelId: string;
  hotelName: string;
  roomType: string;
  roomName: string;
  stayPrice: number;
}

interface ChosenFare {
  flightId: string;
  flightNumber: string;
  date: string;
  cabin: Cabin;
  price: number;
}

export function SearchPage() {
  const [city, setCity] = useState("");
  const [checkIn, setCheckIn] = useState(isoDay(30));
  const [checkOut, setCheckOut] = useState(isoDay(33));
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [outbound, setOutbound] = useState(isoDay(30));
  const [inbound, setInbound] = useState("");
  const [hotelSearch, setHotelSearch] = useState<HotelSearch | null>(null);
  const [flightSearches, setFlightSearches] = useState<FlightSearch[]>([]);
  const [room, setRoom] = useState<ChosenRoom | null>(null);
  const [fares, setFares] = useState<ChosenFare[]>([]);

  function search(event: FormEvent) {
    event.preventDefault();
    setHotelSearch(city.trim() ? { city: city.trim(), checkIn, checkOut } : null);
    const searches: FlightSearch[] = [];
    const origin = from.trim().toUpperCase();
    const destination = to.trim().toUpperCase();
    if (origin && destination) {
      searches.push({ from: origin, to: destination, date: outbound });
      if (inbound) searches.push({ from: destination, to: origin, date: inbound });
    }
    setFlightSearches(searches);
    setRoom(null);
    setFares([]);
  }

  function chooseFare(fare: ChosenFare) {
    setFares((chosen) => {
      const others = chosen.filter((f) => !(f.flightId === fare.flightId && f.date === fare.date));
      const same = chosen.find((f) => f.flightId === fare.flightId && f.date === fare.date);
      return same?.cabin === fare.cabin ? others : [...others, fare];
    });
  }

  return (
    <section className="page">
      <h1>Plan a trip</h1>
      <form className="card search" onSubmit={search} aria-label="Search">
        <fieldset>
          <legend>Hotel</legend>
          <label>
            City
            <input name="city" value={city} onChange={(e) => setCity(e.target.value)} placeholder="Tokyo" />
          </label>
          <label>
            Check-in
            <input type="date" name="checkIn" value={checkIn} onChange={(e) => {
              setCheckIn(e.target.value);
              if (e.target.value >= checkOut) setCheckOut(addDays(e.target.value, 1));
            }} />
          </label>
          <label>
            Check-out
            <input type="date" name="checkOut" value={checkOut} onChange={(e) => setCheckOut(e.target.value)} />
          </label>
        </fieldset>
        <fieldset>
          <legend>Flights</legend>
          <label>
            From
            <input name="from" value={from} onChange={(e) => setFrom(e.target.value)} placeholder="HND" maxLength={3} />
          </label>
          <label>
            To
            <input name="to" value={to} onChange={(e) => setTo(e.target.value)} placeholder="CTS" maxLength={3} />
          </label>
          <label>
            Day
            <input type="date" name="outbound" value={outbound} onChange={(e) => setOutbound(e.target.value)} />
          </label>
          <label>
            Return day (optional)
            <input type="date" name="inbound" value={inbound} onChange={(e) => setInbound(e.target.value)} />
          </label>
        </fieldset>
        <div className="actions">
          <button type="submit">Search</button>
        </div>
      </form>

      {hotelSearch && <HotelResults search={hotelSearch} chosen={room} onChoose={setRoom} />}
      {flightSearches.map((flightSearch) => (
        <FlightResults
          key={`${flightSearch.from}-${flightSearch.to}-${flightSearch.date}`}
          search={flightSearch}
          chosen={fares}
          onChoose={chooseFare}
        />
      ))}
      {(room || fares.length > 0) && (
        <TripForm room={room} hotelSearch={hotelSearch} fares={fares} />
      )}
    </section>
  );
}

function HotelResults(props: {
  search: HotelSearch;
  chosen: ChosenRoom | null;
  onChoose(room: ChosenRoom): void;
}) {
  const [{ data, fetching, error }] = useQuery<{ hotels: HotelOffer[] }>({
    query: SEARCH_HOTELS,
    variables: props.search,
  });
  return (
    <section className="results" aria-label="Hotels">
      <h2>Hotels in {props.search.city}</h2>
      {fetching && <p className="muted">Searching hotels…</p>}
      {error && <p className="notice error" role="alert">{describeFailure(error)}</p>}
      {data && data.hotels.length === 0 && <p className="muted">No hotels in {props.search.city}.</p>}
      <div className="offers">
        {data?.hotels.map((hotel) => (
          <article key={hotel.id} className="offer" aria-label={hotel.name} data-testid="hotel-offer">
            <h3>{hotel.name}</h3>
            <p className="muted">{hotel.city} · {hotel.nights} night{hotel.nights === 1 ? "" : "s"}</p>
            <Perks perks={hotel.perks} />
            <table className="prices">
              <thead>
                <tr><th>Room</th><th>Stay</th><th aria-label="Choose" /></tr>
              </thead>
              <tbody>
                {hotel.roomTypes.map((roomType) => {
                  const chosen = props.chosen?.hotelId === hotel.id && props.chosen.roomType === roomType.code;
                  return (
                    <tr key={roomType.code} className={chosen ? "chosen" : undefined}>
                      <td>{roomType.name}<br /><span className="muted">{money(roomType.nightlyPrice, hotel.currency)} a night</span></td>
                      <td className="price">{money(roomType.stayPrice, hotel.currency)}</td>
                      <td>
                        <ChooseButton
                          chosen={chosen}
                          label={`Choose ${roomType.name} at ${hotel.name}`}
                          onClick={() => props.onChoose({
                            hotelId: hotel.id, hotelName: hotel.name, roomType: roomType.code,
                            roomName: roomType.name, stayPrice: roomType.stayPrice,
                          })}
                        />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </article>
        ))}
      </div>
    </section>
  );
}

function FlightResults(props: {
  search: FlightSearch;
  chosen: ChosenFare[];
  onChoose(fare: ChosenFare): void;
}) {
  const [{ data, fetching, error }] = useQuery<{ flights: FlightOffer[] }>({
    query: SEARCH_FLIGHTS,
    variables: props.search,
  });
  const { from, to, date } = props.search;
  return (
    <section className="results" aria-label={`Flights ${from} to ${to}`}>
      <h2>Flights {from} → {to} on {date}</h2>
      {fetching && <p className="muted">Searching flights…</p>}
      {error && <p className="notice error" role="alert">{describeFailure(error)}</p>}
      {data && data.flights.length === 0 && <p className="muted">No flights from {from} to {to}.</p>}
      <div className="offers">
        {data?.flights.map((flight) => (
          <article key={flight.id} className="offer" aria-label={`${flight.airline} ${flight.flightNumber}`} data-testid="flight-offer">
            <h3>{flight.airline} {flight.flightNumber}</h3>
            <p className="muted">{flight.origin} {flight.departureTime} → {flight.destination} {flight.arrivalTime}</p>
            <table className="prices">
              <thead>
                <tr><th>Fare</th><th>Per seat</th><th>Perks</th><th aria-label="Choose" /></tr>
              </thead>
              <tbody>
                {flight.fares.map((fare) => {
                  const chosen = props.chosen.some(
                    (f) => f.flightId === flight.id && f.date === date && f.cabin === fare.cabin);
                  return (
                    <tr key={fare.cabin} className={chosen ? "chosen" : undefined}>
                      <td>{fare.cabin}</td>
                      <td className="price">{money(fare.price, flight.currency)}</td>
                      <td><Perks perks={fare.perks} /></td>
                      <td>
                        <ChooseButton
                          chosen={chosen}
                          label={`Choose ${fare.cabin} on ${flight.flightNumber}`}
                          onClick={() => props.onChoose({
                            flightId: flight.id, flightNumber: flight.flightNumber, date,
                            cabin: fare.cabin, price: fare.price,
                          })}
                        />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </article>
        ))}
      </div>
    </section>
  );
}

function ChooseButton(props: { chosen: boolean; label: string; onClick(): void }) {
  return (
    <button
      type="button"
      className={props.chosen ? "chosen" : "secondary"}
      aria-pressed={props.chosen}
      aria-label={props.label}
      onClick={props.onClick}
    >
      {props.chosen ? "Chosen" : "Choose"}
    </button>
  );
}

function TripForm(props: { room: ChosenRoom | null; hotelSearch: HotelSearch | null; fares: ChosenFare[] }) {
  const { outcome, busy, send } = useCommand();
  const [travelers, setTravelers] = useState<string[]>([""]);
  const seats = Math.max(travelers.length, 1);
  const total = (props.room?.stayPrice ?? 0) + props.fares.reduce((sum, f) => sum + f.price * seats, 0);

  async function book(event: FormEvent) {
    event.preventDefault();
    const input = {
      hotelStay: props.room && props.hotelSearch ? {
        hotelId: props.room.hotelId, roomType: props.room.roomType,
        checkIn: props.hotelSearch.checkIn, checkOut: props.hotelSearch.checkOut,
        guests: seats,
      } : null,
      flights: props.fares.map((fare) => ({ flightId: fare.flightId, date: fare.date, seats, cabin: fare.cabin })),
      travelers: travelers.map((name) => ({ name: name.trim() })),
    };
    const result = await send(REQUEST_BOOKING, { input });
    if (result.kind === "accepted") navigate(`/bookings/${result.bookingId}?v=${result.version}`);
  }

  return (
    <form className="card trip" onSubmit={book} aria-label="Your trip" noValidate>
      <h2>Your trip</h2>
      <ul className="trip-items">
        {props.room && (
          <li>
            <strong>{props.room.hotelName}</strong>, {props.room.roomName}:{" "}
            {props.hotelSearch?.checkIn} to {props.hotelSearch?.checkOut}, {money(props.room.stayPrice)}
            <FieldErrors messages={problemsAt(outcome, "hotelStay")} />
          </li>
        )}
        {props.fares.map((fare, index) => (
          <li key={`${fare.flightId}-${fare.date}`}>
            <strong>{fare.flightNumber}</strong> on {fare.date}, {fare.cabin}: {money(fare.price)} × {seats}
            <FieldErrors messages={problemsAt(outcome, `flights.${index}`)} />
          </li>
        ))}
      </ul>
      <fieldset>
        <legend>Travelers (names as on the passport)</legend>
        {travelers.map((name, index) => (
          <div className="traveler" key={index}>
            <label>
              Traveler {index + 1}
              <input
                name={`traveler-${index}`}
                value={name}
                aria-invalid={problemsAt(outcome, `travelers.${index}`).length > 0}
                onChange={(e) => setTravelers((all) => all.map((n, i) => (i === index ? e.target.value : n)))}
              />
            </label>
            {travelers.length > 1 && (
              <button type="button" className="link" onClick={() => setTravelers((all) => all.filter((_, i) => i !== index))}>
                Remove
              </button>
            )}
            <FieldErrors messages={problemsAt(outcome, `travelers.${index}`)} />
          </div>
        ))}
        <FieldErrors messages={outcome?.kind === "invalid" ? outcome.problems.get("travelers") ?? [] : []} />
        {travelers.length < 9 && (
          <button type="button" className="secondary" onClick={() => setTravelers((all) => [...all, ""])}>
            Add a traveler
          </button>
        )}
      </fieldset>
      <p className="total">Total before perks: <strong>{money(total)}</strong></p>
      <OutcomeMessage outcome={outcome} />
      <div className="actions">
        <button type="submit" disabled={busy}>{busy ? "Booking…" : "Book"}</button>
      </div>
    </form>
  );
}
