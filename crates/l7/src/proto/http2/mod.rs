//! stub
pub mod frame;
use super::{Ctx, ProtocolParser};
use crate::types::{Direction, Protocol};
/// stub
#[derive(Debug, Default)]
pub struct Http2;
impl Http2 { /// new
 pub fn new() -> Http2 { Http2 } }
impl ProtocolParser for Http2 {
    fn protocol(&self) -> Protocol { Protocol::Http2 }
    fn feed(&mut self, _ctx: &mut Ctx<'_>, _dir: Direction, _data: &[u8], _gap: u64) {}
    fn lost(&mut self, _ctx: &mut Ctx<'_>) {}
    fn close(&mut self, _ctx: &mut Ctx<'_>) {}
    fn memory(&self) -> usize { 0 }
}
pub mod hpack; pub mod huffman;
