//! The order of the multipart fields of `POST /api/batch/add-video`. Every client of ours sends
//! `batch_id` before the file, so the handler can refuse a bad batch before writing a byte;
//! these tests send it *after* the file, as any other client may, over real HTTP. Then the
//! handler streams the file to `uploads/<job>.part` before it knows the batch, checks the
//! batch once the body has been read (404 unknown, 409 no longer pending, 400 malformed or
//! empty), removes the streamed file on every refusal, and otherwise stores it exactly as when
//! `batch_id` comes first. A later `batch_id` field replaces an earlier one and is checked
//! again.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vidscribe_server::testing::{not_media_bytes, wav_bytes, Reply};

use crate::common::{media, spawn, App, Options};

fn no_engine() -> Options {
    Options { job_delay: None, ..Options::default() }
}

/// One multipart field, sent in the order given.
enum Part<'a> {
    Text(&'a str, &'a str),
    File(&'a str, Vec<u8>),
}

async fn upload(app: &App, parts: Vec<Part<'_>>) -> Reply {
    let mut form = reqwest::multipart::Form::new();
    for p in parts {
        form = match p {
            Part::Text(name, value) => form.text(name.to_string(), value.to_string()),
            Part::File(filename, bytes) => {
                form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()))
            }
        };
    }
    app.client
        .send(app.client.request(reqwest::Method::POST, "/api/batch/add-video").multipart(form))
        .await
        .expect("upload request")
}

fn file_names(paths: &[PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn assert_refused(r: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{what}: {}", r.body);
    assert_eq!(r.body["success"], false, "{what}: {}", r.body);
}

#[tokio::test]
async fn batch_id_after_the_file_adds_the_job_to_that_batch_as_batch_id_first_does() {
    let app = spawn(no_engine()).await;
    let batch = app.client.create_batch(json!({ "name": "order" })).await;

    let after = upload(
        &app,
        vec![
            Part::File("after.wav", media()),
            Part::Text("batch_id", &batch),
            Part::Text("session_name", "Late fields"),
        ],
    )
    .await
    .ok();
    let before = upload(&app, vec![Part::Text("batch_id", &batch), Part::File("before.wav", media())]).await.ok();

    let (after_id, before_id) = (after["job_id"].as_str().unwrap(), before["job_id"].as_str().unwrap());
    // Stored the same way: under the job id with the sniffed extension, probed, nothing left
    // half-written in uploads/.
    for (reply, id, name) in [(&after, after_id, "after.wav"), (&before, before_id, "before.wav")] {
        let job = &reply["job"];
        assert_eq!(job["file_path"], format!("uploads/{id}.wav"), "{reply}");
        assert_eq!(job["original_filename"], name, "{reply}");
        assert_eq!(job["status"], "queued", "{reply}");
        let d = job["media_duration"].as_f64().unwrap_or_else(|| panic!("probed duration: {reply}"));
        assert!((d - 1.0).abs() < 0.05, "{d}");
    }
    assert_eq!(
        after["job"]["session_name"], "Late_fields",
        "a session_name after the file is used too (sanitised): {after}"
    );
    assert_ne!(before["job"]["session_name"], "Late_fields", "{before}");
    assert_eq!(
        file_names(&app.uploads()),
        file_names(&[format!("{after_id}.wav").into(), format!("{before_id}.wav").into()])
    );
    assert_eq!(
        std::fs::read(app.data().join(format!("uploads/{after_id}.wav"))).unwrap(),
        media(),
        "the stored bytes are the upload"
    );

    // Both jobs are in that batch, in upload order.
    let b = app.client.batch(&batch).await;
    let ids: Vec<&str> = b["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [after_id, before_id], "{b}");
    app.stop().await;
}

#[tokio::test]
async fn batch_id_after_the_file_for_a_batch_that_cannot_take_it_is_refused_and_keeps_no_file() {
    let app = spawn(no_engine()).await;
    let unknown = vidscribe_core::BatchId::new().to_string();
    let r = upload(&app, vec![Part::File("x.wav", media()), Part::Text("batch_id", &unknown)]).await;
    assert_refused(&r, 404, "batch_not_found", "unknown batch after the file");
    let r = upload(&app, vec![Part::File("x.wav", media()), Part::Text("batch_id", "nope")]).await;
    assert_refused(&r, 400, "invalid_id", "malformed batch id after the file");
    let r = upload(&app, vec![Part::File("x.wav", media()), Part::Text("batch_id", "  ")]).await;
    assert_refused(&r, 400, "missing_batch_id", "blank batch id after the file");
    assert!(app.uploads().is_empty(), "a refused upload left {:?}", app.uploads());

    // A started batch: 409, and the streamed file is removed (only the first job's upload stays).
    let started = app.client.create_batch(json!({})).await;
    let first = app.client.add_video(&started, "first.wav", media()).await;
    app.client.start(&started).await.ok();
    let r = upload(&app, vec![Part::File("late.wav", media()), Part::Text("batch_id", &started)]).await;
    assert_refused(&r, 409, "batch_not_pending", "started batch after the file");
    assert_eq!(file_names(&app.uploads()), [format!("{first}.wav")]);
    assert_eq!(app.client.batch(&started).await["jobs"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn with_batch_id_after_the_file_the_file_is_read_first_and_with_it_before_the_batch_is() {
    // What is refused first shows what is read first. An over-size file for an unknown batch:
    // 413 when the file comes first (its bytes hit the limit before the batch is known), 404
    // when batch_id comes first (refused before a byte is written).
    let app = spawn(Options { max_upload_bytes: 64 * 1024, job_delay: None, ..Options::default() }).await;
    let unknown = vidscribe_core::BatchId::new().to_string();
    let big = wav_bytes(10.0, 16_000); // 320 kB
    let r = upload(&app, vec![Part::File("big.wav", big.clone()), Part::Text("batch_id", &unknown)]).await;
    assert_refused(&r, 413, "file_too_large", "over-size file, then an unknown batch");
    let r = upload(&app, vec![Part::Text("batch_id", &unknown), Part::File("big.wav", big)]).await;
    assert_refused(&r, 404, "batch_not_found", "unknown batch, then an over-size file");
    // Not media, for an unknown batch after it: the batch is checked before the content is.
    let r = upload(&app, vec![Part::File("notes.mp4", not_media_bytes()), Part::Text("batch_id", &unknown)]).await;
    assert_refused(&r, 404, "batch_not_found", "not media, then an unknown batch");
    assert!(app.uploads().is_empty(), "{:?}", app.uploads());
    app.stop().await;
}

#[tokio::test]
async fn a_batch_id_after_the_file_replaces_one_before_it_and_is_checked_again() {
    let app = spawn(no_engine()).await;
    let first = app.client.create_batch(json!({ "name": "named first" })).await;
    let second = app.client.create_batch(json!({ "name": "named last" })).await;
    let r = upload(
        &app,
        vec![Part::Text("batch_id", &first), Part::File("x.wav", media()), Part::Text("batch_id", &second)],
    )
    .await
    .ok();
    let job = r["job_id"].as_str().unwrap();
    let jobs_of = |b: Value| {
        b["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(jobs_of(app.client.batch(&second).await), [job], "the last batch_id wins");
    assert!(jobs_of(app.client.batch(&first).await).is_empty(), "nothing added to the first batch_id's batch");

    // The first one was pending when the file began; the last one is not: 409, no file kept.
    app.client.start(&second).await.ok();
    let r = upload(
        &app,
        vec![Part::Text("batch_id", &first), Part::File("y.wav", media()), Part::Text("batch_id", &second)],
    )
    .await;
    assert_refused(&r, 409, "batch_not_pending", "a pending batch_id, the file, then a started one");
    assert_eq!(file_names(&app.uploads()), [format!("{job}.wav")]);
    assert!(jobs_of(app.client.batch(&first).await).is_empty());
    app.stop().await;
}

// ---- the same over a raw socket, to watch what the server does between the fields ------------

const BOUNDARY: &str = "orderorderorder";

fn text_part(name: &str, value: &str) -> Vec<u8> {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").into_bytes()
}

fn file_part_head(filename: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes()
}

fn request_head(body_len: usize) -> String {
    format!(
        "POST /api/batch/add-video HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {body_len}\r\n\r\n"
    )
}

/// Reads the whole response (the server closes the connection after it); (status, JSON body).
async fn read_reply(sock: &mut TcpStream, within: Duration) -> (u16, Value) {
    let mut buf = Vec::new();
    tokio::time::timeout(within, sock.read_to_end(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no complete answer within {within:?}; got {:?}", String::from_utf8_lossy(&buf)))
        .expect("read the answer");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status =
        text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_id_after_the_file_is_streamed_to_disk_before_the_batch_is_known() {
    let app = spawn(no_engine()).await;
    let batch = app.client.create_batch(json!({})).await;
    let file = media();
    let mut first = file_part_head("streamed.wav");
    first.extend_from_slice(&file);
    first.extend_from_slice(b"\r\n");
    let mut rest = text_part("batch_id", &batch);
    rest.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());

    let mut sock = TcpStream::connect(app.server.addr).await.unwrap();
    sock.write_all(request_head(first.len() + rest.len()).as_bytes()).await.unwrap();
    sock.write_all(&first).await.unwrap();
    // The file part is complete and no batch_id has been sent: the upload is being written.
    let deadline = Instant::now() + Duration::from_secs(10);
    let part = loop {
        let ups = app.uploads();
        if let Some(p) = ups.iter().find(|p| p.extension().is_some_and(|e| e == "part")) {
            break p.clone();
        }
        assert!(Instant::now() < deadline, "no uploads/*.part while the batch_id is still unsent: {ups:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(app.uploads().len(), 1, "{:?}", app.uploads());
    sock.write_all(&rest).await.unwrap();
    let (status, body) = read_reply(&mut sock, Duration::from_secs(20)).await;
    assert_eq!(status, 200, "{body}");
    let job = body["job_id"].as_str().unwrap_or_else(|| panic!("{body}"));
    // The streamed file became the job's upload: the .part is gone, the stored file is whole.
    assert_eq!(part.file_stem().unwrap().to_string_lossy(), job, "the .part is named after the job");
    assert!(!part.exists(), "{} left behind", part.display());
    assert_eq!(std::fs::read(app.data().join(format!("uploads/{job}.wav"))).unwrap(), file);
    assert_eq!(app.client.batch(&batch).await["jobs"][0]["job_id"], job);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_id_before_the_file_is_checked_before_the_file_is_sent() {
    // The other branch, for contrast: with batch_id first, an unknown batch is answered as soon
    // as the file part begins, while its content has not been sent at all.
    let app = spawn(no_engine()).await;
    let unknown = vidscribe_core::BatchId::new().to_string();
    let mut head = text_part("batch_id", &unknown);
    head.extend_from_slice(&file_part_head("never.wav"));
    let content_len = 64 * 1024;
    let total = head.len() + content_len + format!("\r\n--{BOUNDARY}--\r\n").len();

    let mut sock = TcpStream::connect(app.server.addr).await.unwrap();
    sock.write_all(request_head(total).as_bytes()).await.unwrap();
    sock.write_all(&head).await.unwrap();
    let (status, body) = read_reply(&mut sock, Duration::from_secs(10)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("batch_not_found")), "{body}");
    assert!(app.uploads().is_empty(), "nothing written: {:?}", app.uploads());
    app.stop().await;
}
