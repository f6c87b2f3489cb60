//! Checks the bundled GPT-2 tokenizer against llama.cpp's GPT-2 vocabulary
//! test cases and against known encodings of varied text.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use behavior_lens::model::tokenizer::GPT2_END_OF_TEXT;
use behavior_lens::model::TextTokenizer;

/// Cases separated by a `__ggml_vocab_test__` line. Line N of the `.out`
/// file contains the ids of case N.
const CASES_INPUT: &str = include_str!("data/gpt2/tokenizer-cases.inp");
const CASES_OUTPUT: &str = include_str!("data/gpt2/tokenizer-cases.out");
const CASE_SEPARATOR: &str = "\n__ggml_vocab_test__\n";

fn gpt2() -> TextTokenizer {
    TextTokenizer::gpt2().expect("bundled GPT-2 tokenizer should parse")
}

#[test]
fn gpt2_vocabulary_size_and_end_of_text() {
    let tokenizer = gpt2();
    assert_eq!(tokenizer.vocab_size(), 50257);
    assert_eq!(
        tokenizer.token_to_id("<|endoftext|>"),
        Some(GPT2_END_OF_TEXT)
    );
}

#[test]
fn gpt2_matches_reference_cases() {
    let tokenizer = gpt2();
    let mut cases: Vec<&str> = CASES_INPUT.split(CASE_SEPARATOR).collect();
    assert_eq!(
        cases.pop(),
        Some(""),
        "input should end with a separator line"
    );
    let expected: Vec<&str> = CASES_OUTPUT.lines().collect();
    assert_eq!(
        cases.len(),
        expected.len(),
        "input and output case counts differ"
    );
    assert_eq!(cases.len(), 46);
    for (index, (text, ids)) in cases.iter().zip(&expected).enumerate() {
        let expected_ids: Vec<u32> = ids
            .split_whitespace()
            .map(|id| id.parse().expect("output file contains integer ids"))
            .collect();
        let actual = tokenizer.encode(text).expect("encoding should succeed");
        assert_eq!(actual, expected_ids, "case {index}: {text:?}");
    }
}

#[test]
fn gpt2_encodes_varied_text() {
    let tokenizer = gpt2();
    let cases: [(&str, &[u32]); 6] = [
        ("Hello world", &[15496, 995]),
        (" Hello world", &[18435, 995]),
        ("12345 67", &[10163, 2231, 8275]),
        ("你好", &[19526, 254, 25001, 121]),
        ("🙂", &[8582, 25081]),
        ("a  \n\n\tb", &[64, 220, 220, 628, 197, 65]),
    ];
    for (text, expected) in cases {
        let ids = tokenizer.encode(text).expect("encoding should succeed");
        assert_eq!(ids, expected, "encoding of {text:?}");
        let decoded = tokenizer.decode(&ids).expect("decoding should succeed");
        assert_eq!(decoded, text, "decode(encode({text:?}))");
    }
}

#[test]
fn gpt2_keeps_end_of_text_as_one_token() {
    let tokenizer = gpt2();
    let ids = tokenizer
        .encode("end<|endoftext|>")
        .expect("encoding should succeed");
    assert_eq!(ids, [437, GPT2_END_OF_TEXT]);
}
