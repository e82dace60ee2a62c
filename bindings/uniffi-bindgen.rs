//! The workspace's own `uniffi-bindgen`: the same uniffi version as the `purse-ffi` library, so
//! generated Kotlin, Swift and Python always match the scaffolding compiled into the cdylib. It
//! never runs at app run time; `scripts/gen-bindings` calls it.

fn main() {
    uniffi::uniffi_bindgen_main()
}
