#![allow(dead_code, unreachable_pub, missing_docs)]
pub struct Servers;
impl Servers {
    pub fn standalone() -> Servers { panic!("stub") }
    pub fn cluster() -> Servers { panic!("stub") }
    pub fn url(&self) -> String { unreachable!() }
    pub fn urls(&self) -> Vec<String> { unreachable!() }
}
