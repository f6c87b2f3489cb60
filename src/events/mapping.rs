//! Event fields, column mappings and the header names that suggest them.

use serde::Serialize;

/// A field of the canonical event that a column can feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    User,
    Item,
    Event,
    Time,
    Category,
    Brand,
    Price,
    Quantity,
    Session,
    Order,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::User,
        Field::Item,
        Field::Event,
        Field::Time,
        Field::Category,
        Field::Brand,
        Field::Price,
        Field::Quantity,
        Field::Session,
        Field::Order,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::User => "user",
            Field::Item => "item",
            Field::Event => "event",
            Field::Time => "time",
            Field::Category => "category",
            Field::Brand => "brand",
            Field::Price => "price",
            Field::Quantity => "quantity",
            Field::Session => "session",
            Field::Order => "order",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|field| field.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// Header names that suggest this field, in order of preference, in
    /// the compact form of [`compact_header`].
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::User => &[
                "userid",
                "user",
                "visitorid",
                "customerid",
                "customer",
                "memberid",
                "buyerid",
                "uid",
                "clientid",
                "fullvisitorid",
                "用户id",
                "用户",
                "会员id",
                "会员",
                "客户id",
                "客户",
                "买家id",
                "买家",
                "顾客id",
                "顾客",
            ],
            Field::Item => &[
                "itemid",
                "item",
                "productid",
                "product",
                "sku",
                "productsku",
                "stockcode",
                "goodsid",
                "goods",
                "skuid",
                "商品id",
                "商品",
                "商品编号",
                "宝贝id",
                "货号",
                "产品id",
                "产品",
            ],
            Field::Event => &[
                "eventtype",
                "event",
                "behaviortype",
                "behavior",
                "behaviour",
                "action",
                "actiontype",
                "ecommerceactionactiontype",
                "hitsecommerceactionactiontype",
                "eventname",
                "type",
                "行为类型",
                "行为",
                "事件类型",
                "事件",
                "操作类型",
                "操作",
            ],
            Field::Time => &[
                "eventtime",
                "timestamp",
                "time",
                "datetime",
                "date",
                "ts",
                "createdat",
                "eventdate",
                "invoicedate",
                "orderdate",
                "visitstarttime",
                "时间戳",
                "时间",
                "日期",
                "行为时间",
                "下单时间",
                "发生时间",
            ],
            Field::Category => &[
                "categoryid",
                "category",
                "itemcategory",
                "categorycode",
                "cat",
                "catid",
                "类目id",
                "类目",
                "品类",
                "分类",
                "类别",
            ],
            Field::Brand => &["brand", "品牌"],
            Field::Price => &[
                "price",
                "unitprice",
                "amount",
                "dollarvalue",
                "revenue",
                "sales",
                "价格",
                "单价",
                "金额",
                "销售额",
            ],
            Field::Quantity => &["quantity", "qty", "numberofcds", "units", "数量", "件数"],
            Field::Session => &[
                "usersession",
                "sessionid",
                "session",
                "visitid",
                "会话id",
                "会话",
            ],
            Field::Order => &[
                "orderid",
                "order",
                "invoiceno",
                "invoice",
                "transactionid",
                "orderno",
                "订单id",
                "订单号",
                "订单",
            ],
        }
    }
}

/// Lower-cases a header and keeps only letters and digits, so that
/// `User ID`, `user_id` and `userId` compare equal.
pub fn compact_header(name: &str) -> String {
    name.trim_start_matches('\u{FEFF}')
        .chars()
        .filter(|ch| ch.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Column index of each field. A fallback column feeds a field on rows
/// where the first is empty (REES46 `category_code`, then `category_id`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    columns: [Option<usize>; 10],
    fallbacks: [Option<usize>; 10],
}

impl Mapping {
    pub fn get(&self, field: Field) -> Option<usize> {
        self.columns[field as usize]
    }

    pub fn fallback(&self, field: Field) -> Option<usize> {
        self.fallbacks[field as usize]
    }

    pub fn set(&mut self, field: Field, column: Option<usize>) {
        self.columns[field as usize] = column;
    }

    pub fn set_fallback(&mut self, field: Field, column: Option<usize>) {
        self.fallbacks[field as usize] = column;
    }

    /// Largest column index used, for the row-length check.
    pub fn max_column(&self) -> Option<usize> {
        self.columns
            .iter()
            .chain(&self.fallbacks)
            .flatten()
            .copied()
            .max()
    }

    /// Maps each field to the first column whose header matches one of its
    /// names; a column feeds at most one field.
    pub fn from_headers(compact: &[String]) -> Mapping {
        let mut mapping = Mapping::default();
        let mut used = vec![false; compact.len()];
        for field in Field::ALL {
            let found = field.synonyms().iter().find_map(|synonym| {
                compact
                    .iter()
                    .enumerate()
                    .find(|(index, name)| !used[*index] && name.as_str() == *synonym)
                    .map(|(index, _)| index)
            });
            if let Some(index) = found {
                used[index] = true;
                mapping.set(field, Some(index));
            }
        }
        mapping
    }

    /// Field names with their column names, for reports.
    pub fn describe(&self, columns: &[String]) -> Vec<(Field, String)> {
        Field::ALL
            .into_iter()
            .filter_map(|field| {
                let index = self.get(field)?;
                Some((field, columns.get(index).cloned().unwrap_or_default()))
            })
            .collect()
    }
}

/// Parses `user=COL,item=COL,...` where COL is a header name or a 1-based
/// column number.
pub fn parse_mapping_spec(spec: &str) -> Result<Vec<(Field, String)>, String> {
    let mut pairs = Vec::new();
    for part in spec
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let (field, column) = part
            .split_once('=')
            .ok_or_else(|| format!("invalid mapping {part:?}; expected FIELD=COLUMN"))?;
        let field = Field::from_name(field).ok_or_else(|| {
            let names: Vec<&str> = Field::ALL.iter().map(|field| field.as_str()).collect();
            format!(
                "unknown field {field:?} in mapping; expected one of {}",
                names.join(", ")
            )
        })?;
        pairs.push((field, column.trim().to_string()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn headers_map_in_english_and_chinese() {
        let headers: Vec<String> = ["用户ID", "商品", "行为", "时间", "类目", "价格"]
            .iter()
            .map(|name| compact_header(name))
            .collect();
        let mapping = Mapping::from_headers(&headers);
        assert_eq!(mapping.get(Field::User), Some(0));
        assert_eq!(mapping.get(Field::Item), Some(1));
        assert_eq!(mapping.get(Field::Event), Some(2));
        assert_eq!(mapping.get(Field::Time), Some(3));
        assert_eq!(mapping.get(Field::Category), Some(4));
        assert_eq!(mapping.get(Field::Price), Some(5));
        assert_eq!(mapping.get(Field::Brand), None);
    }

    #[test]
    fn preferred_synonym_wins() {
        let headers: Vec<String> = ["category_code", "category_id", "user_id"]
            .iter()
            .map(|name| compact_header(name))
            .collect();
        let mapping = Mapping::from_headers(&headers);
        assert_eq!(mapping.get(Field::Category), Some(1));
    }

    #[test]
    fn mapping_spec_parses_and_rejects() {
        let pairs = parse_mapping_spec("user=buyer, item=3").expect("valid spec");
        assert_eq!(
            pairs,
            vec![(Field::User, "buyer".into()), (Field::Item, "3".into())]
        );
        assert!(parse_mapping_spec("shopper=1").is_err());
        assert!(parse_mapping_spec("user").is_err());
    }
}
