"""The tokenizer corpus: 300+ varied strings from the shared data plus hand-written edge cases.
Usage: make_corpus.py SHARED_DATA_DIR OUT.json"""
import json
import sys


def lines(path, n, stride):
    with open(path) as f:
        rows = [json.loads(l) for l in f]
    return rows[::stride][:n]


def main(data, out):
    corpus = []
    for row in lines(f"{data}/gsm8k_train.jsonl", 120, 61):
        corpus.append(row["question"])
    for row in lines(f"{data}/gsm8k_test_dev.jsonl", 30, 33):
        corpus.append(row["answer"])
    for row in lines(f"{data}/math500_dev.jsonl", 40, 10):
        corpus.append(row["problem"])
        corpus.append(row["solution"][:400])
    for row in lines(f"{data}/mbpp_dev.jsonl", 50, 17):
        corpus.append(row["code"])
        corpus.append(row["test_list"][0])
    corpus += [
        "", " ", "  ", "\t", "\n", "\n\n\n", "   leading", "trailing   ", "a  b   c    d",
        "tabs\tand\t\ttabs", "line\r\nbreak", "\u00a0non-breaking\u2009thin", "12345678901234567890",
        "3.14159 2.71828 -42 +7 1e-10 0x1F 1,000,000 $1,234.56 50%", "1/2 + 3/4 = 5/4",
        "héllo wörld façade naïve", "Привет, мир!", "你好，世界", "こんにちは世界", "안녕하세요",
        "مرحبا بالعالم", "שלום עולם", "🙂🚀👍🏽 emoji 👨‍👩‍👧", "∑ᵢ xᵢ² ≤ ∞, ∀ε>0 ∃δ", "\\boxed{\\frac{1}{2}}",
        "don't can't won't I'm you're they've he'd we'll IT'S", "CamelCaseIdentifier snake_case_name kebab-case",
        "def f(x):\n    return x ** 2\n\n\nprint(f(3))", "    indented\n        more\n\tmixed",
        "if (a && b || !c) { x += 1; }", "<html><body>Hi &amp; bye</body></html>", "https://example.com/a?b=c&d=e#f",
        "email@example.com", "((((nested))))", "......!!!???", "---===+++", "A" * 50, "ab" * 40,
        "0" * 30, " 1 2 3 4 5 6 7 8 9 10", "x=1;y=2;z=x+y", "The answer is 42.", "#### 18",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n", "<|endoftext|>", "text<|im_end|>more",
        "Ünïcödé ÇÀPS", "mixed 中文 and English 123", "null\u0000byte", "zero\u200bwidth", "combining e\u0301",
    ]
    with open(out, "w") as f:
        json.dump(corpus, f, ensure_ascii=False, indent=0)
    print(len(corpus), "strings")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
