//! `boxoffice admin report sales`: what a performance (or each of a
//! production's) sold, per price category and ticket type, as a table, JSON or CSV (RFC 4180, for a
//! spreadsheet; money in units such as `44.00`, as everywhere else).

use boxoffice_client::proto as v1;

use crate::args::{AdminReportCommand, Global};
use crate::commands::nodes;
use crate::output::{Output, api, money};
use boxoffice_view::json::venues::{SalesReport, csv_field};

/// The columns of the report, in table and CSV.
const HEADERS: [&str; 6] = [
    "category",
    "ticket_type",
    "sold",
    "revenue",
    "refunded",
    "refunds",
];

/// The rows of a report: one per line, then the total.
fn rows(report: &v1::SalesReport) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = report
        .lines
        .iter()
        .map(|l| {
            vec![
                l.category.clone(),
                l.ticket_type.clone(),
                l.sold.to_string(),
                money(l.revenue_cents),
                l.refunded.to_string(),
                money(l.refunded_cents),
            ]
        })
        .collect();
    rows.push(vec![
        "total".to_owned(),
        String::new(),
        report.sold.to_string(),
        money(report.revenue_cents),
        report.refunded.to_string(),
        money(report.refunded_cents),
    ]);
    rows
}

/// Lines of CSV, each ending with CRLF as RFC 4180 says.
fn csv(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| csv_field(h)).collect();
    for row in std::iter::once(header).chain(rows) {
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The report as CSV: a header line, one line per category and ticket
/// type, and a `total` line.
pub fn sales_csv(report: &v1::SalesReport) -> String {
    csv(&HEADERS, rows(report))
}

/// The headers of a production's reports: `show`, then [`HEADERS`].
fn production_headers() -> Vec<&'static str> {
    std::iter::once("show").chain(HEADERS).collect()
}

/// The rows of a production's reports: each performance's, after its id.
fn production_rows(reports: &[v1::SalesReport]) -> Vec<Vec<String>> {
    reports
        .iter()
        .flat_map(|r| {
            rows(r).into_iter().map(|row| {
                std::iter::once(r.show_id.clone())
                    .chain(row)
                    .collect::<Vec<_>>()
            })
        })
        .collect()
}

/// A production's reports as CSV: as [`sales_csv`], with a `show` column
/// first.
pub fn production_csv(reports: &[v1::SalesReport]) -> String {
    csv(&production_headers(), production_rows(reports))
}

/// `boxoffice admin report …`.
pub async fn admin_report(global: &Global, command: AdminReportCommand) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    match command {
        AdminReportCommand::Sales {
            show: None,
            production: Some(production),
            csv,
        } => {
            let reports = client.production_sales(&production).await.map_err(api)?;
            if csv {
                print!("{}", production_csv(&reports));
                return Ok(());
            }
            if out.json {
                let all: Vec<SalesReport> = reports.into_iter().map(SalesReport::from).collect();
                return out.json(&all);
            }
            out.table(&production_headers(), production_rows(&reports));
            Ok(())
        }
        AdminReportCommand::Sales { show, csv, .. } => {
            // clap asks for one of the show and the production.
            let show = show.unwrap_or_default();
            let report = client.sales_report(&show).await.map_err(api)?;
            if csv {
                print!("{}", sales_csv(&report));
                return Ok(());
            }
            if out.json {
                return out.json(&SalesReport::from(report));
            }
            out.table(&HEADERS, rows(&report));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sales_csv_has_a_line_per_category_and_type_and_a_total() {
        let line =
            |category: &str, ticket_type: &str, sold, revenue, refunded, refunds| v1::SalesLine {
                category: category.into(),
                ticket_type: ticket_type.into(),
                sold,
                revenue_cents: revenue,
                refunded,
                refunded_cents: refunds,
            };
        let report = v1::SalesReport {
            show_id: "hamlet-fri".into(),
            lines: vec![
                line("A", "adult", 1, 5_500, 0, 0),
                line("A", "concession", 0, 0, 1, 4_400),
                line("Box, left", "adult", 2, 5_000, 0, 0),
            ],
            sold: 3,
            revenue_cents: 10_500,
            refunded: 1,
            refunded_cents: 4_400,
        };
        assert_eq!(
            sales_csv(&report),
            "category,ticket_type,sold,revenue,refunded,refunds\r\n\
             A,adult,1,55.00,0,0.00\r\n\
             A,concession,0,0.00,1,44.00\r\n\
             \"Box, left\",adult,2,50.00,0,0.00\r\n\
             total,,3,105.00,1,44.00\r\n"
        );
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        let other = v1::SalesReport {
            show_id: "hamlet-sat".into(),
            ..Default::default()
        };
        assert_eq!(
            production_csv(&[report, other]),
            "show,category,ticket_type,sold,revenue,refunded,refunds\r\n\
             hamlet-fri,A,adult,1,55.00,0,0.00\r\n\
             hamlet-fri,A,concession,0,0.00,1,44.00\r\n\
             hamlet-fri,\"Box, left\",adult,2,50.00,0,0.00\r\n\
             hamlet-fri,total,,3,105.00,1,44.00\r\n\
             hamlet-sat,total,,0,0.00,0,0.00\r\n"
        );
    }
}
