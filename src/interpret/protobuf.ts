/**
 * A minimal Protocol Buffers wire-format reader: enough to walk an ONNX ModelProto and pull out
 * tensors (onnxruntime does not expose a model's weights). Fields are yielded in file order;
 * unknown fields are simply skipped, so newer ONNX files read as well as old ones.
 * https://protobuf.dev/programming-guides/encoding/
 */
import { ModelError } from '../core/errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export type ProtoField =
  | { readonly no: number; readonly wire: typeof WIRE_VARINT; readonly value: number }
  | { readonly no: number; readonly wire: typeof WIRE_FIXED64 | typeof WIRE_FIXED32 | typeof WIRE_BYTES; readonly bytes: Uint8Array };

/** Reads a varint at `pos`; values above 2^53 lose precision (ONNX dims and enums never get there). */
export function readVarint(buf: Uint8Array, pos: number, source: string): { value: number; next: number } {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const b = buf[pos + i];
    if (b === undefined) throw truncated(source, pos);
    value += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return { value, next: pos + i + 1 };
  }
  throw new ModelError('MODEL_INVALID', `not a protobuf file: varint longer than 10 bytes at byte ${pos}`, { source });
}

function truncated(source: string, pos: number): ModelError {
  return new ModelError('MODEL_INVALID', `not a complete ONNX/protobuf file: it ends inside a field at byte ${pos}`, { source });
}

/** The fields of one message, in order. `source` names the file in errors. */
export function* protoFields(buf: Uint8Array, source: string): Generator<ProtoField> {
  let pos = 0;
  while (pos < buf.length) {
    const key = readVarint(buf, pos, source);
    const no = Math.floor(key.value / 8);
    const wire = key.value % 8;
    pos = key.next;
    if (no === 0) throw new ModelError('MODEL_INVALID', `not a protobuf file: field number 0 at byte ${pos}`, { source });
    switch (wire) {
      case WIRE_VARINT: {
        const v = readVarint(buf, pos, source);
        pos = v.next;
        yield { no, wire, value: v.value };
        break;
      }
      case WIRE_FIXED64:
      case WIRE_FIXED32: {
        const n = wire === WIRE_FIXED64 ? 8 : 4;
        if (pos + n > buf.length) throw truncated(source, pos);
        yield { no, wire, bytes: buf.subarray(pos, pos + n) };
        pos += n;
        break;
      }
      case WIRE_BYTES: {
        const len = readVarint(buf, pos, source);
        pos = len.next;
        if (pos + len.value > buf.length) throw truncated(source, pos);
        yield { no, wire, bytes: buf.subarray(pos, pos + len.value) };
        pos += len.value;
        break;
      }
      default:
        throw new ModelError('MODEL_INVALID', `not a protobuf file (or a corrupt one): wire type ${wire} at byte ${pos}`, { source });
    }
  }
}

/** The varints of a repeated integer field, packed (one bytes field) or not (one varint each). */
export function varints(field: ProtoField, source: string): number[] {
  if (field.wire === WIRE_VARINT) return [field.value];
  if (field.wire !== WIRE_BYTES) throw new ModelError('MODEL_INVALID', `field ${field.no}: expected an integer`, { source });
  const out: number[] = [];
  let pos = 0;
  while (pos < field.bytes.length) {
    const v = readVarint(field.bytes, pos, source);
    out.push(v.value);
    pos = v.next;
  }
  return out;
}

export function utf8(field: ProtoField, source: string): string {
  if (field.wire !== WIRE_BYTES) throw new ModelError('MODEL_INVALID', `field ${field.no}: expected a string`, { source });
  return new TextDecoder().decode(field.bytes);
}
