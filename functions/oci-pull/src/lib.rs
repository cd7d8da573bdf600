wit_bindgen::generate!({ path: "../../wit", world: "stage" });
struct F;
impl Guest for F {
    fn describe() -> FunctionInfo { FunctionInfo { description: "x".into(), params: vec![] } }
    fn run(_i: StageInput) -> Result<StageOutput, ferry::replication::types::Error> { todo!() }
}
export!(F);
