//! Reading the loader's input files — compose files, `.env`, `env_file`s — within bounds: only
//! regular files (a FIFO would block the read forever, `/dev/zero` would never end), at most
//! [`LIMIT`] bytes, and in the encodings compose reads: UTF-8 with or without a byte-order mark,
//! and UTF-16 with one.

use std::io::{self, Read};
use std::path::Path;

/// The largest input file read: far beyond any real compose or env file.
pub const LIMIT: u64 = 16 * 1024 * 1024;

/// The text of `path`, or an error that says what is wrong with it in plain words.
pub fn read_text(path: &Path) -> io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a directory" } else { "not a regular file (a device, a pipe or a socket)" };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > LIMIT {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {} MiB", LIMIT >> 20)));
    }
    decode(bytes)
}

/// UTF-8 (a byte-order mark dropped), or UTF-16 behind its byte-order mark.
pub fn decode(bytes: Vec<u8>) -> io::Result<String> {
    let utf16 = |b: &[u8], le: bool| -> io::Result<String> {
        if !b.len().is_multiple_of(2) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-16 (an odd number of bytes)"));
        }
        let units = b
            .chunks_exact(2)
            .map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-16"))
    };
    match bytes.as_slice() {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest.to_vec()),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        io::Error::new(io::ErrorKind::InvalidData, format!("not valid UTF-8 (at byte {at}); save it as UTF-8"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_utf16_and_byte_order_marks_are_read_as_compose_reads_them() {
        // Issue 24: a UTF-16 file with a byte-order mark was refused ("stream did not contain
        // valid UTF-8"); compose reads it.
        let text = "services:\n  a: {image: x}\n";
        let le: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let be: Vec<u8> = [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect();
        let bom8: Vec<u8> = [0xEF, 0xBB, 0xBF].into_iter().chain(text.bytes()).collect();
        for bytes in [le, be, bom8, text.as_bytes().to_vec()] {
            assert_eq!(decode(bytes).unwrap(), text);
        }
        assert!(decode(vec![0xC3, 0x28]).unwrap_err().to_string().contains("not valid UTF-8"));
    }

    #[test]
    fn regression_devices_pipes_and_huge_files_are_refused_at_once() {
        // Issue 24: `env_file: /dev/zero` grew without limit; a FIFO blocked forever.
        let e = read_text(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(read_text(&fifo).unwrap_err().to_string().contains("not a regular file"));
        let big = dir.path().join("big");
        std::fs::File::create(&big).unwrap().set_len(LIMIT + 1).unwrap();
        assert!(read_text(&big).unwrap_err().to_string().contains("larger than 16 MiB"));
    }
}
