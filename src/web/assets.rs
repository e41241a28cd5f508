//! The page's files, embedded in the binary: the one binary is the whole
//! product.
//!
//! Every file is served with `Cache-Control: no-cache` and a strong `ETag`:
//! the browser keeps its copy but asks before each use, and a `304` answers
//! when nothing changed. The files are a few tens of KiB and change with each
//! release of the server, so a revalidation round trip costs less than the
//! risk of a page running yesterday's script against today's server; hashed
//! file names with a long `max-age` would need a build step, which the page
//! deliberately does not have.

use std::sync::LazyLock;

/// One embedded file.
pub(crate) struct Asset {
    /// The URL path it answers (without a query string).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Every file the HTTP listener serves; any other path is `404`.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: PAGE,
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
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

/// `index.html` with its root element marked as [`ROOT_TAG_REGISTRATION_CLOSED`].
static PAGE_REGISTRATION_CLOSED: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let page = std::str::from_utf8(PAGE).unwrap_or_default();
    page.replacen(ROOT_TAG, ROOT_TAG_REGISTRATION_CLOSED, 1)
        .into_bytes()
});

/// `index.html`, as embedded.
const PAGE: &[u8] = include_bytes!("../../web/index.html");

impl Asset {
    /// The file at `path`, if there is one.
    pub(crate) fn find(path: &str) -> Option<&'static Asset> {
        ASSETS.iter().find(|asset| asset.path == path)
    }

    /// The body served: the page itself is marked when registration is
    /// closed; every other file is served as embedded.
    pub(crate) fn served(&self, registration_open: bool) -> &'static [u8] {
        if self.path == "/" && !registration_open {
            &PAGE_REGISTRATION_CLOSED
        } else {
            self.body
        }
    }
}

/// A strong validator for a body: its FNV-1a hash, quoted.
pub(crate) fn etag(body: &[u8]) -> String {
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
        for asset in ASSETS {
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
        assert_eq!(page.served(true), PAGE);
        let open = std::str::from_utf8(page.served(true)).unwrap();
        let closed = std::str::from_utf8(page.served(false)).unwrap();
        assert_eq!(open.matches(ROOT_TAG).count(), 1);
        assert!(!open.contains("data-registration"));
        assert_eq!(closed.matches(ROOT_TAG_REGISTRATION_CLOSED).count(), 1);
        assert_eq!(
            closed.replacen(ROOT_TAG_REGISTRATION_CLOSED, ROOT_TAG, 1),
            open
        );
        assert_ne!(etag(page.served(true)), etag(page.served(false)));
        let script = Asset::find("/app.js").unwrap();
        assert_eq!(script.served(false), script.served(true));
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
