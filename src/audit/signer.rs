//! Where the audit checkpoint key lives: a key file, or a PKCS#11 token.
//!
//! Why it exists: a checkpoint is only as strong as the secrecy of its key (see the trust model
//! in [`super::checkpoint`]). A file key is simple and portable; a PKCS#11 token (an HSM, a TPM
//! through tpm2-pkcs11, a YubiKey, SoftHSM2 for tests) signs without ever handing the key out.
//! Both sign Ed25519 (`CKM_EDDSA` on the token; SoftHSM2 2.6 as shipped by Debian 12 supports
//! it), so verification is the same whichever made a checkpoint.
//!
//! Key files are PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the format of
//! `openssl genpkey -algorithm ed25519`; `ccgate audit keygen` writes one with mode 0600.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use secrecy::{ExposeSecret, SecretString};

use super::checkpoint::Sign;

/// `CKA_EC_PARAMS` of Ed25519: the DER PrintableString "edwards25519" (RFC 8410's curve name,
/// what SoftHSM2 and most tokens accept; the OID form 1.3.101.112 is the alternative).
pub const ED25519_EC_PARAMS: [u8; 14] = [
    0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
];

/// An Ed25519 key held in memory (read from a key file).
pub struct FileKey(SigningKey);

impl FileKey {
    /// A fresh random key.
    pub fn generate() -> FileKey {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let key = FileKey(SigningKey::from_bytes(&seed));
        seed.fill(0);
        key
    }

    /// Read a PKCS#8 PEM key file. Refused when other users may read it.
    pub fn load(path: &Path) -> anyhow::Result<FileKey> {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            anyhow::bail!(
                "{} is readable by other users; run: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
        let pem = SecretString::from(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        let key = SigningKey::from_pkcs8_pem(pem.expose_secret()).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a PKCS#8 PEM Ed25519 key ({e}); create one with `ccgate audit keygen --out {}`",
                path.display(),
                path.display()
            )
        })?;
        Ok(FileKey(key))
    }

    /// Write the key as PKCS#8 PEM to a new file with mode 0600 (an existing file is refused).
    pub fn write_new(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let pem = self
            .0
            .to_pkcs8_pem(Default::default())
            .map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.write_all(pem.as_bytes())?;
        f.sync_all()?;
        Ok(())
    }
}

impl Sign for FileKey {
    fn public_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }
    fn sign(&self, message: &[u8]) -> anyhow::Result<[u8; 64]> {
        Ok(self.0.sign(message).to_bytes())
    }
}

/// Where a PKCS#11 key is: the module (`.so`), the token's label, its user PIN and the key's
/// label (`CKA_LABEL`, the same on the private and the public key).
#[derive(Clone)]
pub struct Pkcs11Settings {
    pub module: PathBuf,
    pub token_label: String,
    pub pin: SecretString,
    pub key_label: String,
}

impl std::fmt::Debug for Pkcs11Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Settings")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"[REDACTED]")
            .field("key_label", &self.key_label)
            .finish()
    }
}

/// An Ed25519 key inside a PKCS#11 token, with a logged-in session.
pub struct Pkcs11Key {
    // Field order: the session closes before the library is finalized.
    session: Mutex<Session>,
    private: ObjectHandle,
    public: VerifyingKey,
    _ctx: Pkcs11,
}

impl Pkcs11Key {
    /// Load the module, find the token and the key pair, log in.
    pub fn open(s: &Pkcs11Settings) -> anyhow::Result<Pkcs11Key> {
        let (ctx, session) = login(s)?;
        let find = |class: ObjectClass| -> anyhow::Result<ObjectHandle> {
            let found = session.find_objects(&[
                Attribute::Class(class),
                Attribute::KeyType(KeyType::EC_EDWARDS),
                Attribute::Label(s.key_label.as_bytes().to_vec()),
            ])?;
            match found.as_slice() {
                [one] => Ok(*one),
                [] => anyhow::bail!(
                    "token {:?} has no Ed25519 {} labelled {:?} (create one: ccgate audit keygen --pkcs11)",
                    s.token_label,
                    if class == ObjectClass::PRIVATE_KEY { "private key" } else { "public key" },
                    s.key_label
                ),
                _ => anyhow::bail!(
                    "token {:?} has several keys labelled {:?}; labels must be unique",
                    s.token_label,
                    s.key_label
                ),
            }
        };
        let private = find(ObjectClass::PRIVATE_KEY)?;
        let public_handle = find(ObjectClass::PUBLIC_KEY)?;
        let public = read_public(&session, public_handle)?;
        Ok(Pkcs11Key {
            session: Mutex::new(session),
            private,
            public,
            _ctx: ctx,
        })
    }

    /// Create a token-resident Ed25519 key pair labelled `key_label` (refused if one exists);
    /// the private key is sensitive and not extractable. Returns its public key.
    pub fn generate(s: &Pkcs11Settings) -> anyhow::Result<VerifyingKey> {
        let (_ctx, session) = login(s)?;
        let label = Attribute::Label(s.key_label.as_bytes().to_vec());
        if !session
            .find_objects(std::slice::from_ref(&label))?
            .is_empty()
        {
            anyhow::bail!(
                "token {:?} already has an object labelled {:?}",
                s.token_label,
                s.key_label
            );
        }
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(ED25519_EC_PARAMS.to_vec()),
            label.clone(),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            label,
        ];
        let (public, _private) = session
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &public_template,
                &private_template,
            )
            .context("generating an Ed25519 key pair on the token (does it support CKM_EC_EDWARDS_KEY_PAIR_GEN?)")?;
        read_public(&session, public)
    }
}

/// Open the module, find the token by label, open a session and log in as the user.
fn login(s: &Pkcs11Settings) -> anyhow::Result<(Pkcs11, Session)> {
    let ctx = Pkcs11::new(&s.module)
        .with_context(|| format!("loading the PKCS#11 module {}", s.module.display()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            Function::Initialize,
        )) => {}
        Err(e) => return Err(e).context("initializing the PKCS#11 module"),
    }
    let mut slot = None;
    for sl in ctx.get_slots_with_initialized_token()? {
        if ctx.get_token_info(sl)?.label().trim_end() == s.token_label {
            slot = Some(sl);
            break;
        }
    }
    let slot = slot.ok_or_else(|| {
        anyhow::anyhow!(
            "no initialized PKCS#11 token labelled {:?} in {}",
            s.token_label,
            s.module.display()
        )
    })?;
    let session = ctx.open_rw_session(slot)?;
    let pin = AuthPin::from(s.pin.expose_secret().to_string());
    session
        .login(UserType::User, Some(&pin))
        .with_context(|| format!("logging in to token {:?} (wrong PIN?)", s.token_label))?;
    Ok((ctx, session))
}

/// The Ed25519 public key of a public-key object (`CKA_EC_POINT`: the 32 bytes, bare or as a
/// DER OCTET STRING, which tokens differ on).
fn read_public(session: &Session, handle: ObjectHandle) -> anyhow::Result<VerifyingKey> {
    let attrs = session.get_attributes(handle, &[AttributeType::EcPoint])?;
    let point = attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("the token's public key has no CKA_EC_POINT"))?;
    let raw: &[u8] = match point.as_slice() {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        p if p.len() == 32 => p,
        p => anyhow::bail!("unexpected CKA_EC_POINT of {} bytes for Ed25519", p.len()),
    };
    let arr: [u8; 32] = raw.try_into()?;
    VerifyingKey::from_bytes(&arr).map_err(|e| anyhow::anyhow!("the token's public key: {e}"))
}

impl Sign for Pkcs11Key {
    fn public_key(&self) -> VerifyingKey {
        self.public
    }
    fn sign(&self, message: &[u8]) -> anyhow::Result<[u8; 64]> {
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let sig = session
            .sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                self.private,
                message,
            )
            .context("signing on the PKCS#11 token")?;
        sig.try_into().map_err(|s: Vec<u8>| {
            anyhow::anyhow!("the token returned a {}-byte signature", s.len())
        })
    }
}

/// Where the signing key comes from (the settings, before anything is opened).
#[derive(Debug, Clone)]
pub enum KeySource {
    File(PathBuf),
    Pkcs11(Pkcs11Settings),
}

impl KeySource {
    /// Open the key: read the file, or log in to the token.
    pub fn open(&self) -> anyhow::Result<Box<dyn Sign + Send + Sync>> {
        Ok(match self {
            KeySource::File(p) => Box::new(FileKey::load(p)?),
            KeySource::Pkcs11(s) => Box::new(Pkcs11Key::open(s)?),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            KeySource::File(p) => format!("key file {}", p.display()),
            KeySource::Pkcs11(s) => format!(
                "PKCS#11 key {:?} on token {:?} ({})",
                s.key_label,
                s.token_label,
                s.module.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_owner_only_and_refuse_to_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let key = FileKey::generate();
        key.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = FileKey::load(&path).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let sig = back.sign(b"m").unwrap();
        assert!(key
            .public_key()
            .verify_strict(b"m", &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok());
        assert!(
            key.write_new(&path).is_err(),
            "an existing key is never overwritten"
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = FileKey::load(&path).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");

        let junk = dir.path().join("junk.key");
        std::fs::write(&junk, "not a key").unwrap();
        std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(FileKey::load(&junk)
            .err()
            .unwrap()
            .to_string()
            .contains("PKCS#8"));
    }
}
