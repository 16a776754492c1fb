//! Pages, lists, blocks, comments and users as lucid reads them. Only what lucid uses
//! is required; a property of a type lucid does not read is kept as its type name.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One page of a paginated list (`has_more`, `next_cursor`).
#[derive(Clone, Debug, Deserialize)]
pub struct List<T> {
    pub results: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Clone, Debug, Deserialize)]
struct Ref {
    id: String,
}

#[derive(Clone, Debug, Deserialize)]
struct RichText {
    #[serde(default)]
    plain_text: String,
    /// A mention's target, when the item is one.
    #[serde(default)]
    mention: Option<Mention>,
}

#[derive(Clone, Debug, Deserialize)]
struct Mention {
    #[serde(default)]
    user: Option<Ref>,
}

impl RichText {
    fn mentions(&self, user: &str) -> bool {
        self.mention
            .as_ref()
            .and_then(|m| m.user.as_ref())
            .is_some_and(|u| same_id(&u.id, user))
    }
}

/// Whether two Notion ids are the same, spelled with dashes or without.
pub fn same_id(a: &str, b: &str) -> bool {
    fn bare(s: &str) -> impl Iterator<Item = char> + '_ {
        s.chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
    }
    bare(a).eq(bare(b))
}

fn plain(texts: &[RichText]) -> String {
    texts.iter().map(|t| t.plain_text.as_str()).collect()
}

#[derive(Clone, Debug, Deserialize)]
struct Named {
    name: String,
}

/// A page property, by its type; the types lucid reads keep their value.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Property {
    Title {
        title: Vec<RichText>,
    },
    RichText {
        rich_text: Vec<RichText>,
    },
    Status {
        status: Option<Named>,
    },
    Select {
        select: Option<Named>,
    },
    Url {
        url: Option<String>,
    },
    #[serde(other)]
    Other,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Parent {
    DataSourceId {
        data_source_id: String,
    },
    DatabaseId {
        database_id: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Page {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    /// When the page last changed (ISO 8601): with the id, what tells one move to the
    /// trigger status from another.
    pub last_edited_time: String,
    #[serde(default)]
    last_edited_by: Option<Ref>,
    #[serde(default)]
    parent: Option<Parent>,
    #[serde(default)]
    pub in_trash: bool,
    #[serde(default)]
    properties: BTreeMap<String, Property>,
}

impl Page {
    /// The page's title (its one `title` property), as plain text.
    pub fn title(&self) -> String {
        self.properties
            .values()
            .find_map(|p| match p {
                Property::Title { title } => Some(plain(title)),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Who edited the page last.
    pub fn last_edited_by(&self) -> Option<&str> {
        self.last_edited_by.as_ref().map(|r| r.id.as_str())
    }

    /// The data source (or, in the older shape, the database) the page is in.
    pub fn parent(&self) -> Option<&str> {
        match self.parent.as_ref()? {
            Parent::DataSourceId { data_source_id } => Some(data_source_id),
            Parent::DatabaseId { database_id } => Some(database_id),
            Parent::Other => None,
        }
    }

    /// The status named `property` holds now; `None` when the page has no such
    /// status property or it is empty.
    pub fn status(&self, property: &str) -> Option<&str> {
        match self.properties.get(property)? {
            Property::Status { status } => status.as_ref().map(|s| s.name.as_str()),
            _ => None,
        }
    }

    /// Property `name` as text, for the types that hold a short text (title, rich
    /// text, select, status, URL): where a page can name its repository. `None` when
    /// it is missing, empty or of another type.
    pub fn text(&self, name: &str) -> Option<String> {
        let text = match self.properties.get(name)? {
            Property::Title { title } => plain(title),
            Property::RichText { rich_text } => plain(rich_text),
            Property::Status { status } | Property::Select { select: status } => {
                status.as_ref()?.name.clone()
            }
            Property::Url { url } => url.clone()?,
            Property::Other => return None,
        };
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
}

/// A block of a page's content.
#[derive(Clone, Debug, Deserialize)]
pub struct Block {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub has_children: bool,
    #[serde(flatten)]
    content: BTreeMap<String, Value>,
}

impl Block {
    /// The block's own text (its rich text), as plain text.
    pub fn text(&self) -> String {
        let texts = self
            .content
            .get(&self.kind)
            .and_then(|c| c.get("rich_text"))
            .and_then(|t| serde_json::from_value::<Vec<RichText>>(t.clone()).ok())
            .unwrap_or_default();
        plain(&texts)
    }

    fn field(&self, name: &str) -> Option<&Value> {
        self.content.get(&self.kind)?.get(name)
    }

    /// The block as lines of plain text, indented by `depth`; blocks without text
    /// (dividers, images, embeds) give their kind in brackets, so the reader knows
    /// something was there.
    fn lines(&self, depth: usize) -> Vec<String> {
        let indent = "  ".repeat(depth);
        let text = self.text();
        let line = match self.kind.as_str() {
            "heading_1" => format!("# {text}"),
            "heading_2" => format!("## {text}"),
            "heading_3" => format!("### {text}"),
            "bulleted_list_item" | "toggle" => format!("- {text}"),
            "numbered_list_item" => format!("1. {text}"),
            "quote" | "callout" => format!("> {text}"),
            "to_do" => {
                let done = self.field("checked").and_then(Value::as_bool) == Some(true);
                format!("[{}] {text}", if done { "x" } else { " " })
            }
            "code" => {
                let language = self
                    .field("language")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut lines = vec![format!("{indent}```{language}")];
                lines.extend(text.lines().map(|l| format!("{indent}{l}")));
                lines.push(format!("{indent}```"));
                return lines;
            }
            "paragraph" => text,
            other => format!("[{other}]"),
        };
        vec![format!("{indent}{line}")]
    }
}

/// A page's blocks as text, one block per line, each followed by its children
/// (indented) from `children`, the children read so far by their parent's id. A
/// block's children are shown once: an answer in which a block is its own descendant
/// (or is repeated) cannot make this recurse without end or multiply the text.
pub fn render_blocks(top: &[Block], children: &HashMap<String, Vec<Block>>) -> String {
    fn walk<'b>(
        blocks: &'b [Block],
        depth: usize,
        children: &'b HashMap<String, Vec<Block>>,
        shown: &mut HashSet<&'b str>,
        out: &mut Vec<String>,
    ) {
        for block in blocks {
            out.extend(block.lines(depth));
            if let Some(under) = children.get(&block.id).filter(|_| block.has_children)
                && shown.insert(&block.id)
            {
                walk(under, depth + 1, children, shown, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(top, 0, children, &mut HashSet::new(), &mut out);
    out.join("\n")
}

#[derive(Clone, Debug, Deserialize)]
pub struct Comment {
    pub id: String,
    #[serde(default)]
    pub discussion_id: Option<String>,
    /// When it was made (ISO 8601, to the minute).
    #[serde(default)]
    pub created_time: String,
    #[serde(default)]
    parent: Option<CommentParent>,
    created_by: Ref,
    #[serde(default)]
    rich_text: Vec<RichText>,
}

#[derive(Clone, Debug, Deserialize)]
struct CommentParent {
    #[serde(default)]
    page_id: Option<String>,
}

impl Comment {
    pub fn author(&self) -> &str {
        &self.created_by.id
    }

    pub fn text(&self) -> String {
        plain(&self.rich_text)
    }

    /// The page it is on, when it is on a page (not on a block of one).
    pub fn page(&self) -> Option<&str> {
        self.parent.as_ref()?.page_id.as_deref()
    }

    /// Whether it mentions the user `user` (lucid's bot, say).
    pub fn mentions(&self, user: &str) -> bool {
        self.rich_text.iter().any(|t| t.mentions(user))
    }

    /// Its words without the mentions of `user`.
    pub fn text_to(&self, user: &str) -> String {
        let words: String = self
            .rich_text
            .iter()
            .filter(|t| !t.mentions(user))
            .map(|t| t.plain_text.as_str())
            .collect();
        words.trim().to_owned()
    }
}

/// A database: the data sources it holds (one, usually).
#[derive(Clone, Debug, Deserialize)]
pub struct Database {
    pub id: String,
    #[serde(default)]
    pub data_sources: Vec<DataSourceRef>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DataSourceRef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A data source's schema: its properties by name.
#[derive(Clone, Debug, Deserialize)]
pub struct DataSource {
    pub id: String,
    #[serde(default)]
    properties: BTreeMap<String, PropertySchema>,
}

#[derive(Clone, Debug, Deserialize)]
struct PropertySchema {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    status: Option<Options>,
}

#[derive(Clone, Debug, Deserialize)]
struct Options {
    #[serde(default)]
    options: Vec<Named>,
}

impl DataSource {
    /// The type of the property named `name` (`status`, `url`, …), if there is one.
    pub fn property_type(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(|p| p.kind.as_str())
    }

    /// The options of the status property named `name`.
    pub fn status_options(&self, name: &str) -> Vec<&str> {
        self.properties
            .get(name)
            .and_then(|p| p.status.as_ref())
            .map(|s| s.options.iter().map(|o| o.name.as_str()).collect())
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[cfg(test)]
mod tests;
