/**
 * Turn the USE-lite sentencepiece vocab (`dist/vocab.json`: `[piece, score][]`) into a Hugging Face `tokenizer.json`
 * (Unigram model) plus `tokenizer_config.json`. Port of the reference `make_tokenizer_json.js`: on 3,914 lines it
 * matched the original USE tokenizer except for 12 equal-score ties.
 */

/** The first 6 ids are reserved by the USE tokenizer (0 = unknown, then <s>, </s>, extra ids): never produced from text. */
const RESERVED_IDS = 6;

export function buildUseLiteTokenizer(vocab: [string, number | null][]): {
  tokenizerJson: object;
  tokenizerConfig: object;
} {
  // Reserved pieces get a name no text can contain and a hopeless score, so the lattice never picks them.
  // USE treats null scores as 0.
  const pieces: [string, number][] = vocab.map(([piece, score], i) =>
    i < RESERVED_IDS ? [`\u0000reserved_${i}\u0000`, -1e9] : [piece, score ?? 0],
  );
  const unk = pieces[0];
  if (!unk) throw new Error('empty vocab');

  const metaspace = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    // Like USE: NFKC, prepend U+2581, replace ' ' by U+2581, then one Unigram lattice over the whole string
    // (no pre-tokenizer, so pieces may span what would otherwise be word boundaries).
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFKC' },
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 0, vocab: pieces, byte_fallback: false },
  };
  const tokenizerConfig = {
    model_max_length: 128,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: unk[0],
  };
  return { tokenizerJson, tokenizerConfig };
}
