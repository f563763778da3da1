//! The whole sans-IO SIP endpoint fed a script of raw datagrams, clock steps and application
//! decisions (the language is in `dialbridge_fuzz::script`), with the server's part played by
//! `dialbridge_fuzz::Driver`.
//!
//! Checked throughout (see `Driver`): every datagram sent parses and goes back to an address
//! that sent us something, requests we send validate, events follow the call's life; after
//! the script, a shutdown leaves no call, transaction or timer behind.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dialbridge_fuzz::script::run(data).shut_down();
});
