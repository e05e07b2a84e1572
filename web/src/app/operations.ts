// The SPA's operations, against the SDL in graphql/query.graphql and graphql/command.graphql.
import { gql } from "urql";

export type BookingStatus = "PENDING" | "CONFIRMED" | "REJECTED" | "CANCELLED";
export type ReservationStatus = "PENDING" | "RESERVED" | "REJECTED";
export type Cabin = "ECONOMY" | "PREMIUM" | "FIRST";

export interface CatalogPerk {
  code: string;
  title: string;
  kind: string;
  discountPercent: number;
}

export interface HotelOffer {
  id: string;
  name: string;
  city: string;
  nights: number;
  currency: string;
  roomTypes: { code: string; name: string; nightlyPrice: number; stayPrice: number }[];
  perks: CatalogPerk[];
}

export interface FlightOffer {
  id: string;
  flightNumber: string;
  airline: string;
  origin: string;
  destination: string;
  date: string;
  departureTime: string;
  arrivalTime: string;
  currency: string;
  fares: { cabin: Cabin; price: number; perks: CatalogPerk[] }[];
}

export interface Booking {
  id: string;
  status: BookingStatus;
  version: number;
  behind: boolean;
  checkIn: string | null;
  cancellationReason: string | null;
  createdAt: string;
  updatedAt: string;
  hotelStay: {
    hotelId: string;
    hotelName: string;
    city: string;
    roomType: string;
    roomName: string;
    checkIn: string;
    checkOut: string;
    nights: number;
    guests: number;
    nightlyPrice: number;
    price: number;
    status: ReservationStatus;
    confirmationCode: string | null;
    rejectionReason: string | null;
  } | null;
  flights: {
    flightId: string;
    flightNumber: string;
    airline: string;
    origin: string;
    destination: string;
    date: string;
    departureTime: string;
    arrivalTime: string;
    seats: number;
    cabin: string;
    unitPrice: number;
    price: number;
    status: ReservationStatus;
    confirmationCode: string | null;
    rejectionReason: string | null;
  }[];
  travelers: { name: string }[];
  perks: (CatalogPerk & { item: string; applied: boolean })[];
  price: {
    base: number;
    total: number;
    currency: string;
    discounts: { code: string; title: string; amount: number }[];
  };
  history: { version: number; at: string; type: string; description: string }[];
}

const PERK = "code title kind discountPercent";

export const SEARCH_HOTELS = gql`
  query SearchHotels($city: String!, $checkIn: Date!, $checkOut: Date!) {
    hotels(city: $city, checkIn: $checkIn, checkOut: $checkOut) {
      id name city nights currency
      roomTypes { code name nightlyPrice stayPrice }
      perks { ${PERK} }
    }
  }
`;

export const SEARCH_FLIGHTS = gql`
  query SearchFlights($from: String!, $to: String!, $date: Date!) {
    flights(from: $from, to: $to, date: $date) {
      id flightNumber airline origin destination date departureTime arrivalTime currency
      fares { cabin price perks { ${PERK} } }
    }
  }
`;

const BOOKING_FIELDS = `
  id status version behind checkIn cancellationReason createdAt updatedAt
  hotelStay {
    hotelId hotelName city roomType roomName checkIn checkOut nights guests nightlyPrice
    price status confirmationCode rejectionReason
  }
  flights {
    flightId flightNumber airline origin destination date departureTime arrivalTime seats
    cabin unitPrice price status confirmationCode rejectionReason
  }
  travelers { name }
  perks { ${PERK} item applied }
  price { base total currency discounts { code title amount } }
  history { version at type description }
`;

export const BOOKING = gql`
  query Booking($id: ID!, $minVersion: Int) {
    booking(id: $id, minVersion: $minVersion) { ${BOOKING_FIELDS} }
  }
`;

export const BOOKING_UPDATED = gql`
  subscription BookingUpdated($id: ID!) {
    bookingUpdated(bookingId: $id) { ${BOOKING_FIELDS} }
  }
`;

export const MY_BOOKINGS = gql`
  query MyBookings($status: BookingStatus, $first: Int!, $after: String) {
    myBookings(status: $status, first: $first, after: $after) {
      edges {
        cursor
        node {
          id status version checkIn
          hotelStay { hotelName city }
          flights { flightNumber origin destination }
          price { total currency }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

export interface BookingSummary {
  id: string;
  status: BookingStatus;
  version: number;
  checkIn: string | null;
  hotelStay: { hotelName: string; city: string } | null;
  flights: { flightNumber: string; origin: string; destination: string }[];
  price: { total: number; currency: string };
}

const OUTCOME = `
  __typename
  ... on CommandAccepted { bookingId version replayed }
  ... on CommandError { code message }
  ... on ValidationError { problems { code message path } }
`;

export const REQUEST_BOOKING = gql`
  mutation RequestBooking($input: RequestBookingInput!, $commandId: ID) {
    requestBooking(input: $input, commandId: $commandId) { ${OUTCOME} }
  }
`;

export const APPLY_PERK = gql`
  mutation ApplyPerk($input: ApplyPerkInput!) {
    applyPerk(input: $input) { ${OUTCOME} }
  }
`;

export const CHANGE_STAY_DATES = gql`
  mutation ChangeStayDates($input: ChangeStayDatesInput!) {
    changeStayDates(input: $input) { ${OUTCOME} }
  }
`;

export const CANCEL_BOOKING = gql`
  mutation CancelBooking($input: CancelBookingInput!) {
    cancelBooking(input: $input) { ${OUTCOME} }
  }
`;

export interface FieldProblem {
  code: string;
  message: string;
  path: string[] | null;
}

export type CommandResult =
  | { __typename: "CommandAccepted"; bookingId: string; version: number; replayed: boolean }
  | { __typename: "ValidationError"; code: string; message: string; problems: FieldProblem[] }
  | {
      __typename:
        | "BookingNotFoundError"
        | "InvalidTransitionError"
        | "ConcurrencyConflictError"
        | "NotAllowedError"
        | "NotAuthenticatedError";
      code: string;
      message: string;
    };
