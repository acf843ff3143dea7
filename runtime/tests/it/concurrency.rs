//! Concurrent commands on one store: each thread opens its own handle, so the file locks between them
//! are the same `flock`s that separate processes take.

use std::sync::Barrier;

use runtime::image::{ImageRef, ImageStore};

use crate::lifecycle::assert_consistent;
use crate::support::{append, count, docker_archive};

fn layer(tag: u8, files: usize) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for i in 0..files {
        append(&mut builder, &format!("l{tag}/f{i}"), &vec![tag; 4096]);
    }
    builder.into_inner().unwrap()
}

#[test]
fn two_loads_at_once_share_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let base = layer(0, 300);
    let one = docker_archive(&[base.clone(), layer(1, 50)], "app:one", None);
    let two = docker_archive(&[base, layer(2, 50)], "app:two", None);
    let barrier = Barrier::new(4);
    std::thread::scope(|scope| {
        for archive in [&one, &one, &two, &two] {
            let barrier = &barrier;
            let root = dir.path();
            scope.spawn(move || {
                let store = ImageStore::open(root).unwrap();
                barrier.wait();
                store.load(&archive[..]).unwrap();
            });
        }
    });
    let store = ImageStore::open(dir.path()).unwrap();
    assert_eq!(store.images().unwrap().len(), 2);
    assert_eq!(count(&store, "l"), 3, "each distinct layer unpacked once");
    assert_consistent(&store);
}

#[test]
fn prune_never_takes_content_from_a_running_load() {
    let dir = tempfile::tempdir().unwrap();
    let archive = docker_archive(&[layer(3, 400), layer(4, 100)], "busy:load", None);
    std::thread::scope(|scope| {
        let root = dir.path();
        let loader = scope.spawn(move || {
            let store = ImageStore::open(root).unwrap();
            for _ in 0..3 {
                store.load(&archive[..]).unwrap();
                store.remove("busy:load", true).unwrap();
            }
            store.load(&archive[..]).unwrap();
        });
        let store = ImageStore::open(root).unwrap();
        while !loader.is_finished() {
            store.prune().unwrap();
        }
        loader.join().unwrap();
    });
    let store = ImageStore::open(dir.path()).unwrap();
    let image = store.image("busy:load").unwrap();
    assert_eq!(image.names, [ImageRef::parse("busy:load").unwrap()]);
    assert_consistent(&store);
}
