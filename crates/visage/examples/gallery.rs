//! Enrol people and identify them in a photo with the library API.
//!
//! ```sh
//! cargo run --release -p visage --example gallery -- DATA_DIR alice=alice.jpg bob=bob.jpg -- group.jpg
//! ```
//! Each `id=photo` pair is enrolled (with a demonstration consent record); every face of the photos
//! after `--` is then identified. The gallery stays in DATA_DIR; delete the folder to start again.

use visage::store::ConsentGrant;
use visage::system::{EnrollRequest, FaceRecognitionSystem, SystemConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--").ok_or("usage: gallery DATA_DIR id=photo... -- photo...")?;
    let (data_dir, people) = args[..split].split_first().ok_or("missing DATA_DIR")?;
    let system = FaceRecognitionSystem::open(SystemConfig::new(data_dir))?;
    for pair in people {
        let (id, photo) = pair.split_once('=').ok_or("enrol as id=photo")?;
        let outcome = system.enroll(
            &EnrollRequest {
                subject: id.into(),
                name: None,
                consent: ConsentGrant {
                    purpose: "example".into(),
                    legal_basis: "consent".into(),
                    evidence: "examples/gallery.rs".into(),
                    expires_at: None,
                },
                images: vec![std::path::PathBuf::from(photo).into()],
                allow_duplicate: false,
            },
            "example",
        )?;
        println!("enrolled {id}: template {:?}", outcome.templates);
    }
    for photo in &args[split + 1..] {
        for face in system.identify(std::path::Path::new(photo), &visage::Decision::default(), "example")?.faces {
            println!("{photo}: {:?} -> {}", face.bbox, face.matched.as_deref().unwrap_or("unknown"));
        }
    }
    println!("audit log intact: {}", system.audit_verify()?.intact);
    Ok(())
}
