"""Golden values of crates/nabla-nn/tests/transformer.rs from PyTorch (2.15):
nn.MultiheadAttention and nn.TransformerEncoderLayer (batch_first, post- and pre-norm, GELU),
their state_dicts, outputs, attention weights, a causal mask and a key padding mask.

    python scripts/transformer_golden.py > crates/nabla-nn/tests/transformer_golden/values.json
"""
import torch, json
torch.manual_seed(0)
E,H,N,L,F=4,2,2,3,6
out={}
x=torch.randn(N,L,E)
out['x']=x.flatten().tolist()
mha=torch.nn.MultiheadAttention(E,H,batch_first=True)
with torch.no_grad():
    mha.in_proj_bias.copy_(torch.randn(3*E)*0.1); mha.out_proj.bias.copy_(torch.randn(E)*0.1)
sd={k:v.flatten().tolist() for k,v in mha.state_dict().items()}
out['mha_sd']=sd
y,w=mha(x,x,x,need_weights=True)
out['mha_y']=y.flatten().tolist(); out['mha_w']=w.flatten().tolist()
cm=torch.nn.Transformer.generate_square_subsequent_mask(L)
y2,_=mha(x,x,x,attn_mask=cm,is_causal=True,need_weights=False)
out['mha_causal_y']=y2.flatten().tolist()
kpm=torch.tensor([[False,False,True],[False,False,False]])
y3,w3=mha(x,x,x,key_padding_mask=kpm)
out['mha_kpm_y']=y3.flatten().tolist(); out['mha_kpm_w']=w3.flatten().tolist()
for nf in [False,True]:
    torch.manual_seed(1)
    layer=torch.nn.TransformerEncoderLayer(E,H,dim_feedforward=F,dropout=0.0,activation='gelu',batch_first=True,norm_first=nf)
    with torch.no_grad():
        for k,v in layer.named_parameters():
            if 'bias' in k or 'norm' in k: v.add_(torch.randn_like(v)*0.1)
    out[f'enc{int(nf)}_sd']={k:v.flatten().tolist() for k,v in layer.state_dict().items()}
    out[f'enc{int(nf)}_y']=layer(x).flatten().tolist()
    out[f'enc{int(nf)}_causal_y']=layer(x,src_mask=cm,is_causal=True).flatten().tolist()
print(json.dumps(out))
