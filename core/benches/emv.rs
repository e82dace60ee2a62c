//! Criterion benchmark `emv`: decoding real payloads of about 250 characters (target: under 5 µs),
//! one with multi-byte characters (the slower, character-counting path) and one ASCII.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use purse_core::emv;

/// EMVCo MPM Annex B example: 248 characters, Chinese language template.
const ANNEX_B: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

/// QRIS (OVO), 238 ASCII characters, two merchant account templates.
const QRIS: &str = "00020101021226580006id.ovo01189360091200006049620215yq38ZDs7MI6oaz50303UKE51450015ID.OR.GPNQR.WWW0215ID10200416988350303UKE52045812530336054065000005802ID5911Tims Donuts6013Jakarta Barat61051161062310507VCcCtqJ0716HgxK16eFVHfvKnGO63048A85";

fn decode(c: &mut Criterion) {
    assert!(emv::decode(ANNEX_B).is_ok() && emv::decode(QRIS).is_ok());
    let mut group = c.benchmark_group("emv_decode");
    group.bench_function("annex_b_248_chars_utf8", |b| {
        b.iter(|| emv::decode(black_box(ANNEX_B)))
    });
    group.bench_function("qris_238_chars_ascii", |b| {
        b.iter(|| emv::decode(black_box(QRIS)))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
