//! The page's files, embedded in the binary: the one binary is the whole
//! product.
//!
//! Every file is served with `Cache-Control: no-cache` and a strong `ETag`:
//! the browser keeps its copy but asks before each use, and a `304` answers
//! when nothing changed. The files change with each release of the server,
//! so a revalidation round trip costs less than the risk of a page running
//! yesterday's script against today's server; hashed file names with a long
//! `max-age` would need a build step, which the page deliberately does not
//! have.
//!
//! Each body's `ETag` is hashed once, at its first request, and kept beside
//! it: the files never change while the server runs, so hashing them again at
//! every request would be the same work repeated for the same answer.

use std::sync::{LazyLock, OnceLock};

/// One embedded file.
pub(crate) struct Asset {
    /// The URL path it answers (without a query string).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// [`etag`] of `body`, hashed at the first request for it.
    etag: OnceLock<String>,
}

/// What is sent for a file: its bytes and their `ETag`.
pub(crate) struct Served {
    pub body: &'static [u8],
    pub etag: &'static str,
}

/// Every file the HTTP listener serves; any other path is `404`.
static ASSETS: [Asset; 3] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: PAGE,
        etag: OnceLock::new(),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
        etag: OnceLock::new(),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
        etag: OnceLock::new(),
    },
];

/// `Cache-Control` of every embedded file; see the module documentation.
pub(crate) const CACHE_CONTROL: &str = "no-cache";

/// The page's root element as written in `index.html`.
const ROOT_TAG: &str = "<html lang=\"en\">";
/// The same, marked for a server with `--registration closed`: the page
/// (app.js) then offers no "Register" and says that accounts come from the
/// server's operator. The wire protocol stays as it is; the mark is the
/// front door's alone.
const ROOT_TAG_REGISTRATION_CLOSED: &str = "<html lang=\"en\" data-registration=\"closed\">";

/// `index.html` with its root element marked as [`ROOT_TAG_REGISTRATION_CLOSED`],
/// and its [`etag`], both made at the first request for it.
static PAGE_REGISTRATION_CLOSED: LazyLock<(Vec<u8>, String)> = LazyLock::new(|| {
    let page = std::str::from_utf8(PAGE).unwrap_or_default();
    let page = page
        .replacen(ROOT_TAG, ROOT_TAG_REGISTRATION_CLOSED, 1)
        .into_bytes();
    let tag = etag(&page);
    (page, tag)
});

/// `index.html`, as embedded.
const PAGE: &[u8] = include_bytes!("../../web/index.html");

impl Asset {
    /// The file at `path`, if there is one.
    pub(crate) fn find(path: &str) -> Option<&'static Asset> {
        ASSETS.iter().find(|asset| asset.path == path)
    }

    /// What is served, with its `ETag` (hashed once, not at each request):
    /// the page itself is marked when registration is closed; every other
    /// file is served as embedded.
    pub(crate) fn served(&'static self, registration_open: bool) -> Served {
        if self.path == "/" && !registration_open {
            let (body, etag) = &*PAGE_REGISTRATION_CLOSED;
            Served { body, etag }
        } else {
            Served {
                body: self.body,
                etag: self.etag.get_or_init(|| etag(self.body)),
            }
        }
    }
}

/// A strong validator for a body: its FNV-1a hash, quoted.
fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in body {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_found_by_its_path_and_has_a_charset() {
        for asset in &ASSETS {
            assert!(Asset::find(asset.path).is_some());
            assert!(asset.content_type.ends_with("charset=utf-8"));
            assert!(!asset.body.is_empty());
        }
        assert!(Asset::find("/../Cargo.toml").is_none());
        assert!(Asset::find("/index.html").is_none());
    }

    /// Closed registration marks the page's root element, and only that:
    /// the page is otherwise the one embedded, with an ETag of its own.
    #[test]
    fn the_page_says_when_registration_is_closed() {
        let page = Asset::find("/").unwrap();
        assert_eq!(page.served(true).body, PAGE);
        let open = std::str::from_utf8(page.served(true).body).unwrap();
        let closed = std::str::from_utf8(page.served(false).body).unwrap();
        assert_eq!(open.matches(ROOT_TAG).count(), 1);
        assert!(!open.contains("data-registration"));
        assert_eq!(closed.matches(ROOT_TAG_REGISTRATION_CLOSED).count(), 1);
        assert_eq!(
            closed.replacen(ROOT_TAG_REGISTRATION_CLOSED, ROOT_TAG, 1),
            open
        );
        assert_ne!(page.served(true).etag, page.served(false).etag);
        let script = Asset::find("/app.js").unwrap();
        assert_eq!(script.served(false).body, script.served(true).body);
        assert_eq!(script.served(false).etag, script.served(true).etag);
    }

    /// Each body's ETag is its hash, as when it was hashed at each request,
    /// and is hashed once: every request gets the very same string.
    #[test]
    fn each_etag_is_the_hash_of_its_body_kept_from_the_first_request() {
        for asset in &ASSETS {
            for registration_open in [true, false] {
                let first = asset.served(registration_open);
                assert_eq!(first.etag, etag(first.body), "{}", asset.path);
                let again = asset.served(registration_open);
                assert!(std::ptr::eq(first.etag, again.etag), "{}", asset.path);
                assert!(std::ptr::eq(first.body, again.body), "{}", asset.path);
            }
        }
        // FNV-1a 64 of nothing and of "a", as published: the values are
        // those of before.
        assert_eq!(etag(b""), "\"cbf29ce484222325\"");
        assert_eq!(etag(b"a"), "\"af63dc4c8601ec8c\"");
    }

    #[test]
    fn the_page_loads_no_inline_script() {
        let page = std::str::from_utf8(Asset::find("/").unwrap().body).unwrap();
        for opening in page.match_indices("<script") {
            let tag = &page[opening.0..];
            let tag = &tag[..tag.find('>').unwrap()];
            assert!(tag.contains("src="), "inline script: {tag}");
        }
        let lower = page.to_ascii_lowercase();
        for (at, _) in lower.match_indices(" on") {
            let rest = &lower[at + 3..];
            let name = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            assert!(
                name == 0 || !rest[name..].starts_with('='),
                "inline event handler: {}",
                &rest[..name]
            );
        }
    }
}
