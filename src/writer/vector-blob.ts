import { endianness } from 'node:os';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Encodes a vector as the schema's BLOB: little-endian float32, whatever the host's byte order. */
export function vectorToBlob(vector: Float32Array): Buffer {
  if (LITTLE_ENDIAN_HOST) return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
  const out = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => out.writeFloatLE(v, i * 4));
  return out;
}

/** Decodes a schema vector BLOB (little-endian float32) into a fresh Float32Array. */
export function blobToVector(blob: Uint8Array): Float32Array {
  const n = blob.byteLength / 4;
  const out = new Float32Array(n);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
