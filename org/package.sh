#!/usr/bin/env bash
# Package eksguard for a service-managed StackSet (org/stackset.yaml).
#
#   org/package.sh BUCKET [PREFIX]
#
# 1. sam build, 2. sam package (code and layer zips to s3://BUCKET/PREFIX/), 3. expand the packaged SAM
# template into plain CloudFormation with samtranslator (org/transform.py) - StackSets with service-managed
# permissions do not support templates that use macros, and AWS::Serverless is one - 4. upload it and
# print the command that creates or updates the StackSet.
#
# Environment: SAM (default: sam on PATH, else .venv-sam/bin/sam), SAM_PYTHON (a Python with samtranslator;
# default: the SAM CLI's own), AWS_REGION/AWS_PROFILE as usual, PARTITION (aws | aws-cn | aws-us-gov).
# CODE_REGIONS (comma list, e.g. us-east-1,eu-west-1): Lambda reads code zips only from a bucket in the
# function's own region, so for a multi-region StackSet the zips are copied to BUCKET-REGION for each region
# (those buckets must exist) and the template points at ${AWS::Region}-suffixed buckets. Every bucket
# must be readable by the member accounts (bucket policy with aws:PrincipalOrgID).
# OU_IDS (comma list of ou-... or r-...) and REGIONS (comma list): when both are set, the script also creates
# or updates the StackSet (stack eksguard-org, org/stackset.yaml) instead of printing the command; with
# MODE, SCOPE, CENTRAL_BUS (the central stack's FindingsBusArn) and EXCLUDE (accounts to leave out, e.g. the
# security account) passed on as its parameters.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
BUCKET=$1
PREFIX=${2:-eksguard}
PARTITION=${PARTITION:-aws}

cd "$(dirname "$0")/.."
SAM=${SAM:-$(command -v sam || echo .venv-sam/bin/sam)}
if [[ -z "${SAM_PYTHON:-}" ]]; then
  # The SAM CLI's own interpreter ships samtranslator: read it off the sam entry point's shebang.
  SAM_PYTHON=$(head -1 "$(command -v "$SAM")" | sed -n 's/^#!\(.*python[0-9.]*\)$/\1/p')
  SAM_PYTHON=${SAM_PYTHON:-python3}
fi
"$SAM_PYTHON" -c 'import samtranslator' 2>/dev/null || {
  echo "error: $SAM_PYTHON cannot import samtranslator; set SAM_PYTHON to the SAM CLI's Python" >&2
  exit 1
}

OUT=.aws-sam/org
mkdir -p "$OUT"
VERSION=$(git rev-parse --short HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)

echo "==> sam build" >&2
"$SAM" build

echo "==> sam package -> s3://$BUCKET/$PREFIX/" >&2
"$SAM" package --s3-bucket "$BUCKET" --s3-prefix "$PREFIX" \
  --output-template-file "$OUT/packaged.yaml"

echo "==> transform (samtranslator, offline) -> $OUT/eksguard-member.json" >&2
REGIONAL=()
if [[ -n "${CODE_REGIONS:-}" ]]; then
  REGIONAL=(--regional-bucket "$BUCKET" "$BUCKET-\${AWS::Region}")
fi
"$SAM_PYTHON" org/transform.py "$OUT/packaged.yaml" "$OUT/eksguard-member.json" --partition "$PARTITION" \
  "${REGIONAL[@]}"

if [[ -n "${CODE_REGIONS:-}" ]]; then
  IFS=, read -r -a regions <<<"$CODE_REGIONS"
  for region in "${regions[@]}"; do
    echo "==> copy code zips to s3://$BUCKET-$region/$PREFIX/" >&2
    aws s3 sync "s3://$BUCKET/$PREFIX/" "s3://$BUCKET-$region/$PREFIX/" --source-region "$(aws s3api \
      get-bucket-location --bucket "$BUCKET" --query LocationConstraint --output text | sed 's/^None$/us-east-1/')" \
      --region "$region" --exclude "*.json"
  done
fi

KEY="$PREFIX/$VERSION/eksguard-member.json"
echo "==> upload s3://$BUCKET/$KEY" >&2
aws s3 cp "$OUT/eksguard-member.json" "s3://$BUCKET/$KEY"

BUCKET_REGION=$(aws s3api get-bucket-location --bucket "$BUCKET" --query LocationConstraint --output text)
[[ "$BUCKET_REGION" == None || "$BUCKET_REGION" == null ]] && BUCKET_REGION=us-east-1
case "$PARTITION" in
  aws-cn) S3_HOST="s3.$BUCKET_REGION.amazonaws.com.cn" ;;
  *) S3_HOST="s3.$BUCKET_REGION.amazonaws.com" ;;
esac
TEMPLATE_URL="https://$BUCKET.$S3_HOST/$KEY"

MODE=${MODE:-audit}
SCOPE=${SCOPE:-eks}
OVERRIDES=(TemplateURL="$TEMPLATE_URL" Mode="$MODE" Scope="$SCOPE" CentralEventBusArn="${CENTRAL_BUS:-}"
  ExcludedAccounts="${EXCLUDE:-}")

if [[ -n "${OU_IDS:-}" && -n "${REGIONS:-}" ]]; then
  echo "==> create or update the StackSet (stack eksguard-org) for $OU_IDS in $REGIONS" >&2
  aws cloudformation deploy --stack-name eksguard-org --template-file org/stackset.yaml \
    --parameter-overrides "${OVERRIDES[@]}" OrganizationalUnitIds="$OU_IDS" Regions="$REGIONS"
  aws cloudformation list-stack-instances --stack-set-name eksguard \
    --query 'Summaries[].[Account,Region,StackInstanceStatus.DetailedStatus]' --output text
  exit 0
fi

cat <<CMD

Member template: $TEMPLATE_URL
Create or update the StackSet (management account or delegated administrator), or re-run with OU_IDS and
REGIONS set to have this script do it:

aws cloudformation deploy --stack-name eksguard-org --template-file org/stackset.yaml \\
  --parameter-overrides ${OVERRIDES[*]} \\
    OrganizationalUnitIds=ou-xxxx-xxxxxxxx Regions=us-east-1,eu-west-1
CMD
