// Types for streamhub.js (docs/PROTOCOLS.md, "Browsers").

export type TransportName = 'websocket' | 'sse' | 'poll';
export const TRANSPORTS: readonly TransportName[];

export interface BackoffOptions {
  /** ms before the first retry (500) */ initial?: number;
  /** ms at most (30000) */ max?: number;
  /** growth per failed round (2) */ factor?: number;
  /** fraction of the delay taken off at random, 0..1 (0.5) */ jitter?: number;
}

export interface HubOptions {
  /** a JWT (or auth.http token), sent as Authorization: Bearer, or ?token= on WebSocket */
  token?: string;
  /** the transports to try, in order (websocket, sse, poll) */
  transports?: TransportName[];
  backoff?: BackoffOptions;
  /** ms on a lower transport before the first is tried again (60000; 0: never) */
  upgradeAfter?: number;
  /** ms a transport may take to subscribe; for SSE, to bring its first event, which a buffering proxy holds back (10000) */
  connectTimeout?: number;
  /** seconds a long poll waits (25) */
  pollTimeout?: number;
  /** replacements, for tests and non-browser hosts */
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  random?: () => number;
}

export interface Message {
  topic: string;
  /** the payload: a string when it is text, bytes when the server sent it base64 */
  payload: string | Uint8Array;
  /** EPOCH-SEQ; absent on retained deliveries over SSE */
  cursor?: string;
  retained: boolean;
  contentType?: string;
  headers: { key: string; value: string }[];
  time?: string;
}

export interface SubscribeOptions {
  /** the last N messages first */ last?: number;
  /** a sequence of the current epoch, or an RFC 3339 time */ from?: string | number;
  /** resume after this cursor */ cursor?: string;
  /** false: no retained messages on a fresh subscription */ retained?: boolean;
  /** this subscription's transports, in order */ transports?: TransportName[];
}

export type State = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface StateEvent { state: State; transport?: TransportName; subscription?: Subscription }
export interface ErrorEvent { error: Error & { code?: string; status?: number }; transport?: TransportName; subscription?: Subscription }
export interface GapEvent { cursor?: string; head?: string; subscription: Subscription }

export interface EventMap { state: StateEvent; error: ErrorEvent; gap: GapEvent }

export interface PublishOptions {
  retain?: boolean;
  contentType?: string;
  headers?: [string, string][];
}

export class Subscription {
  readonly filters: string[];
  /** the last cursor delivered */
  readonly cursor?: string;
  readonly transport?: TransportName;
  readonly state: State;
  /** messages dropped because they had been delivered already */
  readonly duplicates: number;
  unsubscribe(): void;
}

export class StreamHub extends EventTarget {
  constructor(baseURL: string, options?: HubOptions);
  readonly url: string;
  readonly subscriptions: Set<Subscription>;
  subscribe(filters: string | string[], onMessage: (m: Message, s: Subscription) => void): Subscription;
  subscribe(filters: string | string[], options: SubscribeOptions, onMessage: (m: Message, s: Subscription) => void): Subscription;
  publish(topic: string, payload: string | ArrayBuffer | ArrayBufferView | unknown, options?: PublishOptions): Promise<{ topic: string; cursor: string }>;
  on<K extends keyof EventMap>(type: K, fn: (detail: EventMap[K], event: CustomEvent<EventMap[K]>) => void): () => void;
  /** Joins a WebRTC room (peer.js): data channels and tracks browser to browser. */
  peer(room: string, options?: Record<string, unknown>): Promise<EventTarget>;
  close(): void;
}

export function parseCursor(cursor: string): { epoch: string; seq: bigint } | null;
export function isAfter(a: string, b: string): boolean;
export function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
export function topicMatches(filter: string, topic: string): boolean;

export default StreamHub;
