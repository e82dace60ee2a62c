// An independent EMV reader for the interoperability test server/tests/cli/qr_interop.rs: it parses
// payloads with the third-party package promptparse (not Purse code) and reports what that parser
// read, so the Rust test can judge it. It never decides pass or fail itself and never changes a
// payload.
//
// stdin:  a JSON array of payload strings (ASCII: promptparse computes the CRC per UTF-16 unit).
// stdout: {"parser": "promptparse@<version>", "results": [{...}, ...]}, one result per payload:
//   {"accepted": false}                 parse(payload, true) refused it (bad CRC or not EMV TLV)
//   {"accepted": true, "reencoded": bool, "lengths_match": bool, "tags": {...}}
// where `reencoded` says promptparse's own encoder gives back the exact input from the tags it read,
// `lengths_match` says every tag and sub-tag value has the length its header states, and `tags` maps
// top-level ids (and "62.05"-style sub-tags of template 62) to values.
import { readFileSync } from 'node:fs';
import { encode, parse } from 'promptparse';

const version = JSON.parse(
  readFileSync(new URL('./node_modules/promptparse/package.json', import.meta.url), 'utf8'),
).version;

const lengthsMatch = (tags) =>
  tags.every(
    (tag) =>
      Number.isInteger(tag.length) &&
      tag.value.length === tag.length &&
      (tag.subTags === undefined || lengthsMatch(tag.subTags)),
  );

function read(payload) {
  const qr = parse(payload, true);
  if (qr === null) {
    return { accepted: false };
  }
  const tags = {};
  for (const tag of qr.getTags()) {
    tags[tag.id] = tag.value;
  }
  for (const sub of qr.getTag('62')?.subTags ?? []) {
    tags[`62.${sub.id}`] = sub.value;
  }
  return {
    accepted: true,
    reencoded: encode(qr.getTags()) === payload,
    lengths_match: lengthsMatch(qr.getTags()),
    tags,
  };
}

const payloads = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(
  `${JSON.stringify({ parser: `promptparse@${version}`, results: payloads.map(read) })}\n`,
);
