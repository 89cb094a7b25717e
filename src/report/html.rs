//! A self-contained static HTML page: inline CSS, relative links, no scripts, nothing fetched, so
//! it opens from the file system offline.

use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "\
body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;margin:2em auto;max-width:1450px;\
padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;\
border-bottom:1px solid #ddd;padding-bottom:.2em}\
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.25em .7em;\
text-align:left;vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;\
font-variant-numeric:tabular-nums}\
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{color:#555;font-size:.92em}\
.note{color:#7a4b00;background:#fff7e0;border-left:4px solid #e69f00;padding:.3em .8em}\
.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.4em;vertical-align:-.1em;\
border:1px solid #888}\
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.88em}\
code{background:#f3f3f3;padding:0 .2em}";

/// A whole page around `body` (already HTML).
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// A table cell: text, or a right-aligned number.
#[derive(Clone, Debug)]
pub(crate) enum Cell {
    /// Escaped text.
    Text(String),
    /// A number (right-aligned).
    Num(String),
    /// Raw HTML (already escaped).
    Html(String),
}

/// A table with a header row.
pub(crate) fn table(headers: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = String::from("<table>\n<tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = match cell {
                Cell::Text(t) => write!(out, "<td>{}</td>", escape(t)),
                Cell::Num(t) => write!(out, "<td class=\"num\">{}</td>", escape(t)),
                Cell::Html(h) => write!(out, "<td>{h}</td>"),
            };
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// A chart: the SVG inline as an image, a link to the PNG, a caption.
pub(crate) fn figure(stem: &str, alt: &str, caption: &str) -> String {
    let (stem, alt, caption) = (escape(stem), escape(alt), escape(caption));
    format!(
        "<figure>\n<a href=\"{stem}.svg\"><img src=\"{stem}.svg\" alt=\"{alt}\"></a>\n\
         <figcaption>{caption} (<a href=\"{stem}.svg\">SVG</a>, <a href=\"{stem}.png\">PNG</a>)</figcaption>\n\
         </figure>\n"
    )
}

/// A highlighted note (escaped).
pub(crate) fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>\n", escape(text))
}

/// A colour swatch followed by text.
pub(crate) fn swatch(hex: &str, label: &str) -> String {
    format!(
        "<span class=\"swatch\" style=\"background:{}\"></span>{}",
        escape(hex),
        escape(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn tables_escape_text_cells() {
        let t = table(&["a"], &[vec![Cell::Text("<b>".into())]]);
        assert!(t.contains("<td>&lt;b&gt;</td>"));
    }
}
