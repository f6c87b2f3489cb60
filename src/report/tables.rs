//! CSV tables of a report, written beside `report.json` and offered for
//! download by the page.

use super::Report;
use crate::analysis::funnel::FunnelTable;

/// Named CSV tables: `(file name, contents)`. Segments and recommendations
/// are included when the report has them.
pub fn csv_tables(report: &Report) -> Vec<(String, String)> {
    let mut tables = vec![
        ("funnel.csv".to_string(), funnel_csv(report)),
        ("cohorts.csv".to_string(), cohorts_csv(report)),
        ("rfm.csv".to_string(), rfm_csv(report)),
    ];
    if let Some(table) = segments_csv(report) {
        tables.push(("segments.csv".to_string(), table));
    }
    if let Some(table) = recommendations_csv(report) {
        tables.push(("recommendations.csv".to_string(), table));
    }
    if let Some(table) = next_steps_csv(report) {
        tables.push(("next-steps.csv".to_string(), table));
    }
    tables
}

/// Renders one row per next-step candidate the text model ranked.
fn next_steps_csv(report: &Report) -> Option<String> {
    let text = report.text_model.as_ref()?;
    let mut out = String::from("user,rank,action,kind,item,probability\n");
    for forecast in &text.forecasts {
        for (rank, candidate) in forecast.candidates.iter().enumerate() {
            out.push_str(&format!(
                "{},{},{},{},{},{:.6}\n",
                csv_field(&forecast.user),
                rank + 1,
                csv_field(&candidate.action),
                candidate.kind.as_str(),
                candidate.item.as_deref().map_or(String::new(), csv_field),
                candidate.probability,
            ));
        }
    }
    Some(out)
}

/// Renders one row per user in the segment scatter.
fn segments_csv(report: &Report) -> Option<String> {
    let segments = report.segments.as_ref().filter(|segments| segments.available)?;
    let mut out = String::from("user,segment_id,segment,x,y\n");
    for point in &segments.points {
        let name = segments
            .segments
            .iter()
            .find(|segment| segment.id == point.segment)
            .map_or("", |segment| segment.name.as_str());
        out.push_str(&format!(
            "{},{},{},{:.6},{:.6}\n",
            csv_field(&point.user),
            point.segment,
            csv_field(name),
            point.x,
            point.y
        ));
    }
    Some(out)
}

/// Renders one row per recommended item, with its explanations as
/// `event:weight` pairs.
fn recommendations_csv(report: &Report) -> Option<String> {
    let recommendations = report.recommendations.as_ref()?;
    let mut out = String::from("user,rank,item,category,score,because\n");
    for user in &recommendations.users {
        for (rank, item) in user.items.iter().enumerate() {
            let because: Vec<String> = item
                .because
                .iter()
                .map(|reason| format!("{}:{:.3}", reason.event, reason.weight))
                .collect();
            out.push_str(&format!(
                "{},{},{},{},{:.6},{}\n",
                csv_field(&user.user),
                rank + 1,
                csv_field(&item.item),
                item.category.as_deref().map_or(String::new(), csv_field),
                item.score,
                csv_field(&because.join(" ")),
            ));
        }
    }
    Some(out)
}

/// Renders one row per listed customer.
fn rfm_csv(report: &Report) -> String {
    let mut out = String::from("user,recency_days,orders,monetary,r,f,m,segment\n");
    for customer in &report.rfm.customers_list {
        let segment = serde_json::to_value(customer.segment)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default();
        out.push_str(&format!(
            "{},{:.3},{},{},{},{},{},{segment}\n",
            csv_field(&customer.user),
            customer.recency_days,
            customer.orders,
            customer
                .monetary
                .map_or(String::new(), |value| format!("{value:.2}")),
            customer.r,
            customer.f,
            customer.m.map_or(String::new(), |score| score.to_string()),
        ));
    }
    out
}

/// Renders one row per cohort and period offset.
fn cohorts_csv(report: &Report) -> String {
    let mut out = String::from("period,cohort,users,offset,active,retention\n");
    for table in &report.retention.cohorts {
        let period = serde_json::to_value(table.period)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default();
        for cohort in &table.cohorts {
            for (offset, (active, share)) in cohort.active.iter().zip(&cohort.retention).enumerate()
            {
                out.push_str(&format!(
                    "{period},{},{},{offset},{active},{share:.6}\n",
                    cohort.cohort, cohort.users
                ));
            }
        }
    }
    out
}

fn funnel_csv(report: &Report) -> String {
    let mut out = String::from(
        "unit,slice,step,count,conversion,step_conversion,drop_off,median_seconds_from_previous\n",
    );
    let funnel = &report.funnel;
    let mut write = |unit: &str, table: &FunnelTable| {
        for step in &table.steps {
            let median = step
                .median_seconds_from_previous
                .map_or(String::new(), |seconds| format!("{seconds}"));
            out.push_str(&format!(
                "{unit},{},{},{},{:.6},{:.6},{},{median}\n",
                csv_field(&table.name),
                step.step.as_str(),
                step.count,
                step.conversion,
                step.step_conversion,
                step.drop_off,
            ));
        }
    };
    write("user", &funnel.by_user);
    write("session", &funnel.by_session);
    for table in &funnel.by_category {
        write("user_by_category", table);
    }
    for table in &funnel.by_brand {
        write("user_by_brand", table);
    }
    out
}

/// Quotes a field when it contains a comma, quote or line break. A leading
/// `=`, `+`, `-` or `@` gets a `'` so spreadsheets do not run it as a
/// formula.
pub fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn csv_fields_are_quoted_and_guarded() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
