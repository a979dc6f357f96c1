"""Colloquial words of lay questions and the statutory words the articles use for them (房东 → 出租人).

A small, general list: every statutory word on the right is a word of the corpus's regulations
(tests/search/test_query.py checks it against the article texts), and none was taken from a labelled
question. BM25 sees the statutory words beside the question's own (see
:func:`policykg.search.query.keyword_query`); the dense side is left to the model.
"""

from __future__ import annotations

COLLOQUIAL: dict[str, tuple[str, ...]] = {
    "房东": ("出租人",),
    "租客": ("承租人",),
    "房客": ("承租人",),
    "租房": ("租赁",),
    "房租": ("租金",),
    "押金": ("担保",),
    "欠钱": ("借款", "债务"),
    "欠款": ("债务",),
    "借钱": ("借款",),
    "借给": ("借款",),
    "还钱": ("还款", "清偿"),
    "不还": ("清偿", "违约"),
    "利息": ("利息", "利率"),
    "老公": ("配偶", "夫妻"),
    "老婆": ("配偶", "夫妻"),
    "丈夫": ("配偶", "夫妻"),
    "妻子": ("配偶", "夫妻"),
    "结婚": ("结婚", "婚姻"),
    "离婚": ("离婚", "婚姻"),
    "孩子": ("子女",),
    "小孩": ("子女", "未成年人"),
    "儿子": ("子女",),
    "女儿": ("子女",),
    "爸妈": ("父母",),
    "老人": ("老年人",),
    "遗产": ("遗产", "继承"),
    "遗嘱": ("遗嘱", "继承"),
    "打官司": ("诉讼",),
    "起诉": ("诉讼",),
    "告他": ("诉讼",),
    "赔钱": ("赔偿",),
    "赔偿": ("赔偿", "损害"),
    "工资": ("劳动报酬",),
    "老板": ("用人单位",),
    "公司": ("法人",),
    "买房": ("买卖", "房屋"),
    "卖房": ("买卖", "房屋"),
    "定金": ("定金",),
    "合同": ("合同",),
    "违约": ("违约责任",),
    "撞": ("侵权", "机动车"),
    "车祸": ("交通事故", "机动车"),
    "被狗咬": ("饲养的动物",),
    "狗": ("饲养的动物",),
    "邻居": ("相邻",),
    "物业": ("物业服务人",),
    "业主": ("业主",),
    "抵押": ("抵押权",),
    "担保": ("保证", "担保"),
    "保证人": ("保证人", "保证"),
    "罚款": ("罚款", "行政处罚"),
    "罚我": ("行政处罚",),
    "罚": ("处罚",),
    "许可证": ("行政许可",),
    "办证": ("行政许可",),
    "审批": ("行政许可",),
    "政府信息": ("政府信息公开",),
    "公开": ("公开",),
    "隐私": ("隐私权",),
    "名誉": ("名誉权",),
    "肖像": ("肖像权",),
    "个人信息": ("个人信息",),
    "骗": ("欺诈",),
    "被骗": ("欺诈",),
    "威胁": ("胁迫",),
    "失踪": ("宣告失踪",),
    "监护": ("监护人",),
    "收养": ("收养",),
}


def statutory_terms(query: str) -> list[str]:
    """The statutory words for the colloquial words ``query`` contains (each once, in list order)."""
    out: dict[str, None] = {}
    for word, terms in COLLOQUIAL.items():
        if word in query:
            out.update(dict.fromkeys(terms))
    return list(out)


__all__ = ["COLLOQUIAL", "statutory_terms"]
