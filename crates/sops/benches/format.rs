//! In-process costs of the format operations the product relies on: decrypting a small
//! `secret` (1 and 20 recipients), encrypting for 10 recipients, re-wrapping the data key for
//! 10 recipients (`updatekeys`), decrypting a 1 MiB YAML file, and parsing an age header of
//! 1,024 stanzas (the most accepted) and opening it with the identity of its last stanza.

use std::hint::black_box;

use age::secrecy::ExposeSecret;
use criterion::{criterion_group, criterion_main, Criterion};
use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, EncryptOptions, EncryptedFile, Format};

/// `n` fresh X25519 identities: their recipients, and an `Identities` holding only the last one
/// (the worst case: the matching stanza is the last tried).
fn keys(n: usize) -> (Vec<String>, Identities) {
    let all: Vec<age::x25519::Identity> = (0..n).map(|_| age::x25519::Identity::generate()).collect();
    let recipients = all.iter().map(|i| i.to_public().to_string()).collect();
    let mut identities = Identities::empty();
    let last = all.last().expect("n > 0").to_string();
    identities.add_age_key_text(last.expose_secret(), "bench").expect("a valid identity");
    (recipients, identities)
}

fn encrypted(value: &[u8], format: Format, recipients: &[String]) -> Vec<u8> {
    let data = secrets_sops::parse_plain(value, format).expect("parse");
    let options = EncryptOptions { key_groups: vec![recipients.to_vec()], ..EncryptOptions::default() };
    secrets_sops::encrypt(data, format, &options).expect("encrypt").to_bytes().expect("emit")
}

fn small_secret(c: &mut Criterion) {
    for n in [1usize, 20] {
        let (recipients, identities) = keys(n);
        let file = encrypted(b"correct horse battery staple", Format::Binary, &recipients);
        c.bench_function(&format!("decrypt small secret, {n} recipients"), |b| {
            b.iter(|| {
                let parsed = EncryptedFile::parse(black_box(&file), Format::Binary).unwrap();
                let plain = parsed.decrypt(&identities, DecryptOptions::default()).unwrap();
                black_box(plain.to_plain_bytes(Format::Binary).unwrap())
            });
        });
    }
}

fn encrypt_and_updatekeys(c: &mut Criterion) {
    let (recipients, identities) = keys(10);
    c.bench_function("encrypt small secret for 10 recipients", |b| {
        b.iter(|| black_box(encrypted(b"correct horse battery staple", Format::Binary, &recipients)));
    });
    let file = encrypted(b"value", Format::Binary, &recipients[9..]);
    c.bench_function("updatekeys to 10 recipients", |b| {
        b.iter(|| {
            let mut parsed = EncryptedFile::parse(black_box(&file), Format::Binary).unwrap();
            parsed.update_keys(&identities, std::slice::from_ref(&recipients), 0).unwrap();
            black_box(parsed.to_bytes().unwrap())
        });
    });
}

fn large_yaml(c: &mut Criterion) {
    let (recipients, identities) = keys(1);
    let mut yaml = String::new();
    let mut i = 0;
    while yaml.len() < 1 << 20 {
        yaml.push_str(&format!("key{i}:\n    name: value number {i}\n    count: {i}\n    enabled: true\n"));
        i += 1;
    }
    let file = encrypted(yaml.as_bytes(), Format::Yaml, &recipients);
    let mut group = c.benchmark_group("large");
    group.sample_size(10);
    group.bench_function("decrypt 1 MiB YAML", |b| {
        b.iter(|| {
            let parsed = EncryptedFile::parse(black_box(&file), Format::Yaml).unwrap();
            let plain = parsed.decrypt(&identities, DecryptOptions::default()).unwrap();
            black_box(plain.to_plain_bytes(Format::Yaml).unwrap())
        });
    });
    group.finish();
}

fn large_age_header(c: &mut Criterion) {
    use std::io::Write;
    let stanzas = secrets_sops::keys::age_header::MAX_STANZAS;
    // The age crate adds one grease stanza: strangers, then ours, make exactly the limit.
    let (_, identities) = keys(1);
    let ours: age::x25519::Recipient = identities.public_keys()[0].parse().expect("our recipient");
    let strangers: Vec<age::x25519::Recipient> = (0..stanzas - 2).map(|_| age::x25519::Identity::generate().to_public()).collect();
    let recipients = strangers.iter().chain(std::iter::once(&ours)).map(|r| r as &dyn age::Recipient);
    let mut binary = Vec::new();
    let mut writer = age::Encryptor::with_recipients(recipients).expect("recipients").wrap_output(&mut binary).expect("header");
    writer.write_all(&[7u8; 32]).expect("payload");
    writer.finish().expect("finish");
    c.bench_function(&format!("parse an age header of {stanzas} stanzas"), |b| {
        b.iter(|| black_box(secrets_sops::keys::age_header::AgeFile::parse(black_box(&binary)).expect("parse").stanzas.len()));
    });
    c.bench_function(&format!("open an age file of {stanzas} stanzas, ours last"), |b| {
        b.iter(|| match secrets_sops::keys::age_wrap::unwrap_binary(black_box(&binary), &identities) {
            secrets_sops::keys::age_wrap::Unwrapped::Opened(payload) => black_box(payload.len()),
            other => panic!("{other:?}"),
        });
    });
}

criterion_group!(benches, small_secret, encrypt_and_updatekeys, large_yaml, large_age_header);
criterion_main!(benches);
