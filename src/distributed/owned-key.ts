/**
 * Lua scripts for a Redis key owned by whoever wrote its value (a writer claim, a source lock): only the
 * owner may extend, hand over or delete it. Compare-and-set in one script, so an owner whose key expired and
 * was taken by another process never extends or deletes the new owner's key.
 * KEYS[1] the key, ARGV[1] the expected value.
 */

/** PEXPIRE the key to ARGV[2] ms if its value is ARGV[1]; returns 1, else 0. */
export const EXTEND_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

/** DEL the key if its value is ARGV[1]; returns 1, else 0. */
export const DELETE_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** SET the key to ARGV[2] with a TTL of ARGV[3] ms if its value is ARGV[1]; returns 1, else 0. */
export const SWAP_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end`;
