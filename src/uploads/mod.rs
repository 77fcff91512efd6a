//! Medical documents customers send to re-verify: checking what a file really is (by its
//! bytes, never its name), sealing it, and filing it for review — the account goes to
//! "pending expedited review" and a ticket opens in the `verification` queue.
//!
//! Owns the rules for uploads (types, size, single-use links, which MMS is a document). The web
//! page lives in `channels::upload`, MMS photos arrive through `channels::sms`, review in
//! `verification`.

pub mod crypto;

use crate::domain::commerce::{LockReason, VerificationStatus};
use crate::domain::{Channel, Media, PhoneNumber};
use crate::store::commerce::customers;
use crate::store::uploads::{self, NewUpload};
use crate::store::{contacts, conversations};
use crate::store::{tickets, Store, StoreError};
use crate::twilio::media::{FetchError, MediaFetcher};
pub use crypto::Sealer;

/// The queue medical re-verification tickets go to.
pub const QUEUE: &str = "verification";
/// The CRM tag of verification work.
pub const TAG: &str = "ID verification failure";

/// What a link makes: where it points, for how long.
#[derive(Debug, Clone)]
pub struct Links {
    pub sealer: Sealer,
    /// The public base URL the customer's phone can reach.
    pub base_url: String,
    pub ttl_ms: i64,
    pub max_bytes: usize,
}

impl Links {
    pub fn url(&self, token_id: &str) -> String {
        format!("{}/u/{}", self.base_url, self.sealer.sign_token(token_id))
    }
}

/// The content type a document's bytes show: JPEG, PNG, HEIC or PDF, and nothing else.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    const HEIC_BRANDS: &[&[u8]] = &[b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"];
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && HEIC_BRANDS.contains(&&bytes[8..12]) {
        Some("image/heic")
    } else {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("this link is not valid")]
    BadLink,
    #[error("this link has expired")]
    Expired,
    #[error("this link was already used")]
    Used,
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than {0} MB")]
    TooLarge(usize),
    #[error("the file is not a photo (JPEG, PNG, HEIC) or a PDF")]
    WrongType,
    #[error("there is no customer record for this number")]
    NoCustomer,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// Where a document came from.
pub enum Source<'a> {
    /// An upload link's token id (its signature already checked).
    Link { token_id: &'a str },
    /// An MMS photo from the customer's number, to the store at `location_id`.
    Mms { customer_id: &'a str, contact_id: &'a str, location_id: &'a str },
}

/// An MMS a customer sent.
pub struct Mms<'a> {
    pub from: &'a PhoneNumber,
    pub location_id: &'a str,
    pub media: &'a [Media],
}

/// An MMS from a customer whose checkout is locked for re-verification (and who has no
/// document waiting for review) carries their new document: its first photo or PDF is
/// downloaded and filed as [`accept`] does, before the turn runs, so the flow can thank them.
/// Returns the upload's id, or `None` when the MMS is not a document (the turn's business).
///
/// # Errors
/// A download or filing failure; the caller logs it and the flow asks again.
pub async fn file_mms(
    store: &Store,
    links: &Links,
    fetcher: &MediaFetcher,
    commerce: &dyn crate::commerce::Source,
    mms: &Mms<'_>,
) -> Result<Option<String>, UploadError> {
    let Some(contact) = contacts::find(store, mms.from.as_ref()).await? else { return Ok(None) };
    let customer = crate::commerce::customer(commerce, store, &contact.contact_id).await?;
    let locked = |c: &crate::commerce::Customer| {
        c.verification_status != VerificationStatus::PendingReview && c.locked_reason.is_some()
    };
    let Some(customer) = customer.filter(locked) else { return Ok(None) };
    let document = |m: &&Media| m.content_type.starts_with("image/") || m.content_type == "application/pdf";
    let Some(media) = mms.media.iter().find(document) else { return Ok(None) };
    let bytes = fetcher.fetch(&media.url, links.max_bytes).await?;
    let source = Source::Mms {
        customer_id: &customer.customer_id,
        contact_id: &contact.contact_id,
        location_id: mms.location_id,
    };
    accept(store, links, source, &bytes).await.map(Some)
}

/// Checks, seals and files a document in one transaction: the link is used up, the upload
/// stored sealed, the account marked pending review and a ticket opened. Nothing is stored
/// when any check fails. Returns the upload's id.
///
/// # Errors
/// The `UploadError` that says what is wrong.
pub async fn accept(store: &Store, links: &Links, source: Source<'_>, bytes: &[u8]) -> Result<String, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Empty);
    }
    if bytes.len() > links.max_bytes {
        return Err(UploadError::TooLarge(links.max_bytes / (1024 * 1024)));
    }
    let content_type = sniff(bytes).ok_or(UploadError::WrongType)?;
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let (customer_id, conversation_id, token_id, kind) = match source {
        Source::Link { token_id } => {
            let token = uploads::use_token(&mut tx, token_id, now).await?;
            let token = match token {
                uploads::TokenUse::Used(t) => t,
                uploads::TokenUse::Unknown => return Err(UploadError::BadLink),
                uploads::TokenUse::Expired => return Err(UploadError::Expired),
                uploads::TokenUse::AlreadyUsed => return Err(UploadError::Used),
            };
            (token.customer_id, token.conversation_id, Some(token_id.to_owned()), "link")
        }
        Source::Mms { customer_id, contact_id, location_id } => {
            let open = conversations::find_open(&mut tx, contact_id, location_id, Channel::Sms.as_str()).await?;
            (customer_id.to_owned(), open.map(|c| c.conversation_id), None, "mms")
        }
    };
    let customer = customers::customer_by_id(&mut tx, &customer_id).await?.ok_or(UploadError::NoCustomer)?;
    let upload_id = crate::new_id();
    let sealed = links.sealer.seal(&upload_id, bytes);
    let ticket_id = match conversation_id.as_deref() {
        Some(conversation_id) => {
            let summary = format!(
                "Reason: medical re-verification (checkout locked: {})\nCustomer: {}, type {}, recommendation expired on {}\nDocument: upload {upload_id} ({content_type}, {} bytes, by {kind})\nReview: open the document in this ticket and approve or reject it (or leafdesk verification show {upload_id}).",
                customer.locked_reason.map_or("verification", LockReason::as_str),
                customer.customer_id,
                customer.customer_type,
                customer.recommendation_expires_on.as_deref().unwrap_or("unknown"),
                bytes.len(),
            );
            let ticket = tickets::NewTicket {
                conversation_id,
                queue: QUEUE,
                priority: 2,
                tags: &[TAG.to_owned()],
                reason: "Expedited review of a new medical recommendation",
                summary: &summary,
                details: &serde_json::json!({
                    "upload_id": upload_id,
                    "customer_id": customer.customer_id,
                    "content_type": content_type,
                    "size_bytes": bytes.len(),
                    "received_by": kind,
                }),
            };
            Some(tickets::insert(&mut tx, &ticket, now).await?)
        }
        None => None,
    };
    let upload = NewUpload {
        upload_id: &upload_id,
        customer_id: &customer_id,
        source: kind,
        token_id: token_id.as_deref(),
        content_type,
        size_bytes: bytes.len(),
        sealed: &sealed,
        ticket_id: ticket_id.as_deref(),
    };
    uploads::insert(&mut tx, &upload, now).await?;
    customers::set_verification(&mut tx, &customer_id, VerificationStatus::PendingReview, customer.locked_reason, now)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    if let Some(ticket_id) = &ticket_id {
        store.announce(&crate::store::feed::QueueChange::new("opened", ticket_id, QUEUE)).await;
    }
    tracing::info!(%upload_id, content_type, size = bytes.len(), source = kind, "medical document received for review");
    Ok(upload_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_recognised_by_their_bytes_not_their_names() {
        let heic = [&[0, 0, 0, 0x18][..], b"ftypheic", &[0; 8]].concat();
        for (bytes, want) in [
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10][..], Some("image/jpeg")),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("image/png")),
            (b"%PDF-1.7\n", Some("application/pdf")),
            (&heic, Some("image/heic")),
            (b"GIF89a....", None),
            (b"<html><script>", None),
            (b"MZ\x90\0 an exe", None),
            (b"", None),
            (&[0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'm', b'p', b'4', b'2'], None),
        ] {
            assert_eq!(sniff(bytes), want, "{bytes:?}");
        }
    }
}
