//! Aligned text tables, as docker compose prints them: upper-case headers, columns padded to the widest
//! cell with three spaces between them.

/// `--format table|json`, for the listing commands that docker compose gives both (`ps`, `ls`, `stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Renders rows under headers; every row must have as many cells as there are headers.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    render_with_gap(headers, rows, 3)
}

/// [`render`] with `gap` spaces between columns (`top` uses docker compose's two).
pub fn render_with_gap(headers: &[&str], rows: &[Vec<String>], gap: usize) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            text.push_str(cell);
            if index < last {
                text.push_str(&" ".repeat(width - cell.chars().count() + gap));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["a".to_string(), "long value".to_string(), "x".to_string()],
            vec!["bbbb".to_string(), "v".to_string(), String::new()],
        ];
        assert_eq!(
            super::render(&["NAME", "VALUE", "SOURCE"], &rows),
            "NAME   VALUE        SOURCE\na      long value   x\nbbbb   v\n"
        );
    }
}
