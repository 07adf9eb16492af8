// Types of msgpack.js: a small msgpack encoder and decoder, and the
// switchboard.v1.msgpack codec for switchboard.js.
import type { Codec } from "./switchboard.js";

/** value as msgpack. */
export function encode(value: unknown): Uint8Array;
/** The one msgpack value in input; throws a RangeError on malformed input. */
export function decode(input: Uint8Array | ArrayBuffer | ArrayBufferView): unknown;
/** The switchboard.v1.msgpack codec: envelopes as msgpack maps in binary frames. */
export const msgpackCodec: Codec;
